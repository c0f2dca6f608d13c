"""the status index keeps only Queued rows (partial index on due_ms): dispatched and delivered
rows were moved in it at every status change, and only Queued ones were ever looked up by it

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 17:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = sa.text("status = 'Queued'")


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_due')
        batch_op.create_index('ix_deliveries_queued', ['due_ms'], unique=False,
                              sqlite_where=QUEUED, postgresql_where=QUEUED)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_queued', sqlite_where=QUEUED, postgresql_where=QUEUED)
        batch_op.create_index('ix_deliveries_due', ['status', 'due_ms'], unique=False)
