"""batches.receipts_closed_ms: when the wait for a batch's receipts ended

A message the SMSC accepted but never sent a receipt for stayed Dispatched for ever: its batch
was never done, its `per_recipient_final` report never sent, and retention skipped nothing but
the batch summary. Once the batch's `expire_at` plus the receipt wait has passed, the sweeper
now marks such messages Unknown (what Sinch reports for "dispatched, no receipt") and records
the time here. The partial index holds the batches still waiting, by expiry, so the sweeper's
search reads only those.

Existing batches start open: the first sweeps close those already past their deadline.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28 01:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | Sequence[str] | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text('receipts_closed_ms IS NULL')


def upgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipts_closed_ms', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_batches_receipts_open', ['expire_at_ms'], unique=False,
                              sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index('ix_batches_receipts_open', sqlite_where=_OPEN, postgresql_where=_OPEN)
        batch_op.drop_column('receipts_closed_ms')
