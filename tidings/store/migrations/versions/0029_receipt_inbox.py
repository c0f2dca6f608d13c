"""receipt_inbox: receipts answered to the SMSC before the outcome writer applies them

In the distributed profile a deliver_sm is answered once its receipt is written to this table
(one quick statement), no longer after the writer's whole flush: the SMSC's window of
unanswered deliver_sm then bounds receipts per round trip, not per flush. The flush that applies
a receipt deletes its row; rows a dead worker left are applied by the sweeper. Downgrade with
the workers stopped and the table empty: rows still in it are receipts not yet applied.

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-29 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0029'
down_revision: str | Sequence[str] | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'receipt_inbox',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('connection', sa.String(length=64), nullable=False),
        sa.Column('smsc_message_id', sa.String(length=72), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('code', sa.Integer(), nullable=False),
        sa.Column('received_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_receipt_inbox_received', 'receipt_inbox', ['received_ms'])


def downgrade() -> None:
    op.drop_index('ix_receipt_inbox_received', table_name='receipt_inbox')
    op.drop_table('receipt_inbox')
