"""deliveries not yet on the dispatch queue, by due time (partial index): the sweeper's
publish_due, which the status index made read the whole Queued backlog several times a second

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 12:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_unpublished', ['due_ms'], unique=False,
                              sqlite_where=sa.text('published_ms IS NULL'),
                              postgresql_where=sa.text('published_ms IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_unpublished', sqlite_where=sa.text('published_ms IS NULL'),
                            postgresql_where=sa.text('published_ms IS NULL'))
