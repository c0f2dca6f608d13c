"""Persistence: SQLAlchemy tables, the database handle, repositories and migrations.

Nothing outside this package writes SQL.
"""
