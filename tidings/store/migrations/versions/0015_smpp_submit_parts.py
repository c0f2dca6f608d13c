"""smpp_submit_parts: the parts of concatenated submit_sm, each stored before it is answered, until
the message they make is sent (parts over different binds or gateway processes, or before and
after a restart, are joined)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 10:19:27.134672
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('smpp_submit_parts',
    sa.Column('message_id', sa.String(length=32), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('destination', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('data_coding', sa.Integer(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('registered_delivery', sa.Integer(), nullable=False),
    sa.Column('send_at_ms', sa.BigInteger(), nullable=True),
    sa.Column('expire_at_ms', sa.BigInteger(), nullable=True),
    sa.Column('source_addr_ton', sa.Integer(), nullable=False),
    sa.Column('source_addr_npi', sa.Integer(), nullable=False),
    sa.Column('dest_addr_ton', sa.Integer(), nullable=False),
    sa.Column('dest_addr_npi', sa.Integer(), nullable=False),
    sa.Column('received_ms', sa.BigInteger(), nullable=False),
    sa.Column('claimed_ms', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('message_id', 'sequence')
    )
    with op.batch_alter_table('smpp_submit_parts', schema=None) as batch_op:
        batch_op.create_index('ix_smpp_submit_parts_claimed', ['claimed_ms'], unique=False,
                              sqlite_where=sa.text('claimed_ms IS NOT NULL'),
                              postgresql_where=sa.text('claimed_ms IS NOT NULL'))
        batch_op.create_index('ix_smpp_submit_parts_key',
                              ['system_id', 'source', 'destination', 'reference', 'total'], unique=False)
        batch_op.create_index('ix_smpp_submit_parts_waiting', ['received_ms'], unique=False,
                              sqlite_where=sa.text('claimed_ms IS NULL'),
                              postgresql_where=sa.text('claimed_ms IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('smpp_submit_parts', schema=None) as batch_op:
        batch_op.drop_index('ix_smpp_submit_parts_waiting',
                            sqlite_where=sa.text('claimed_ms IS NULL'),
                            postgresql_where=sa.text('claimed_ms IS NULL'))
        batch_op.drop_index('ix_smpp_submit_parts_key')
        batch_op.drop_index('ix_smpp_submit_parts_claimed',
                            sqlite_where=sa.text('claimed_ms IS NOT NULL'),
                            postgresql_where=sa.text('claimed_ms IS NOT NULL'))
    op.drop_table('smpp_submit_parts')
