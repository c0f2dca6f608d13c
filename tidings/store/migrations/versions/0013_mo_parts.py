"""mo_parts: the parts of concatenated MO, kept durably until the message is whole, so that parts
arriving over different SMPP sessions or workers (or before and after a restart) are joined

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 05:34:49.728323
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mo_parts',
    sa.Column('connection', sa.String(length=64), nullable=False),
    sa.Column('sender', sa.String(length=32), nullable=False),
    sa.Column('recipient', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('data_coding', sa.Integer(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('smsc_message_id', sa.String(length=72), nullable=True),
    sa.Column('received_ms', sa.BigInteger(), nullable=False),
    sa.Column('assembled_ms', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('connection', 'sender', 'recipient', 'reference', 'total', 'sequence')
    )
    with op.batch_alter_table('mo_parts', schema=None) as batch_op:
        batch_op.create_index('ix_mo_parts_waiting', ['received_ms'], unique=False,
                              sqlite_where=sa.text('assembled_ms IS NULL'),
                              postgresql_where=sa.text('assembled_ms IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('mo_parts', schema=None) as batch_op:
        batch_op.drop_index('ix_mo_parts_waiting',
                            sqlite_where=sa.text('assembled_ms IS NULL'),
                            postgresql_where=sa.text('assembled_ms IS NULL'))

    op.drop_table('mo_parts')
