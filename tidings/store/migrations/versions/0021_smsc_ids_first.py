"""inbounds and orphan_receipts: searched by the SMSC message id first

Both are looked up as `connection = ? AND smsc_message_id IN (…)` (an MO's de-duplication, a
receipt that came before its submission). With the connection first in the key, PostgreSQL's
generic plan for the prepared lookup read every row of the connection and filtered them against
the ids: 41 ms per MO flush with 50,000 inbounds, growing with every reply ever stored. The
message id goes first, as revision 0020 did for `submissions`.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 19:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0021'
down_revision: str | Sequence[str] | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _reorder(*columns: str) -> None:
    # SQLite cannot change a table's constraint in place: the batch copies the table.
    with op.batch_alter_table('inbounds', recreate='auto') as batch_op:
        batch_op.drop_constraint('uq_inbounds_smsc', type_='unique')
        batch_op.create_unique_constraint('uq_inbounds_smsc', list(columns))
    op.drop_index('ix_orphan_receipts_smsc', table_name='orphan_receipts')
    op.create_index('ix_orphan_receipts_smsc', 'orphan_receipts', list(columns))


def upgrade() -> None:
    _reorder('smsc_message_id', 'connection')


def downgrade() -> None:
    _reorder('connection', 'smsc_message_id')
