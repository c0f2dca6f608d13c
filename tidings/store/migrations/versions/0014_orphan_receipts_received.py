"""orphan receipts by received time: the sweeper drops those no submission matched within
`orphan_receipt_seconds`

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 06:05:12.133747
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('orphan_receipts', schema=None) as batch_op:
        batch_op.create_index('ix_orphan_receipts_received', ['received_ms'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orphan_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_orphan_receipts_received')
