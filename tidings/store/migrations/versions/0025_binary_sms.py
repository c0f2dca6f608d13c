"""batches.udh, inbounds.udh, mo_parts.udh: binary SMS both ways

XMS `mt_binary` batches keep their user data header next to the Base64 payload in `body`
(`batches.type` already says which kind a batch is); `mo_binary` inbounds keep the header
elements that came with them; the stored parts of a concatenated binary MO keep theirs until the
message is joined. All NULL for text.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-28 02:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0025'
down_revision: str | Sequence[str] | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('udh', sa.String(length=280), nullable=True))
    with op.batch_alter_table('inbounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('udh', sa.Text(), nullable=True))
    with op.batch_alter_table('mo_parts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('udh', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mo_parts', schema=None) as batch_op:
        batch_op.drop_column('udh')
    with op.batch_alter_table('inbounds', schema=None) as batch_op:
        batch_op.drop_column('udh')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('udh')
