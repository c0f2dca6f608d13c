"""Tidings: a self-hostable customer communications platform with Sinch-compatible APIs."""

__version__ = "0.1.0"
