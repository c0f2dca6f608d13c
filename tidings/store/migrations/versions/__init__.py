"""Revisions, oldest first by `down_revision`; one head at all times."""
