"""Alembic migrations for both profiles' databases; run them with `tidings.store.migrate`."""
