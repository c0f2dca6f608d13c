"""Helpers for testing against Tidings: service checks and the suite runner."""
