"""Composition: wiring settings, store, queue, workers, channels and sandbox into a running profile."""
