"""smpp_batches for every message submitted over SMPP: its data_coding (a replace_sm's text comes
in it) and an index by addresses (a cancel_sm without message_id)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 10:49:30.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('smpp_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_coding', sa.Integer(), nullable=True))
        batch_op.create_index('ix_smpp_batches_addresses', ['system_id', 'destination_addr', 'source_addr'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('smpp_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_smpp_batches_addresses')
        batch_op.drop_column('data_coding')
