"""smpp_binds and smpp_accounts.max_binds: a limit on an account's binds at once, held across
gateway processes

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 10:54:40.039493
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('smpp_binds',
    sa.Column('gateway_id', sa.String(length=32), nullable=False),
    sa.Column('system_id', sa.String(length=16), nullable=False),
    sa.Column('binds', sa.Integer(), nullable=False),
    sa.Column('seen_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('gateway_id', 'system_id')
    )
    with op.batch_alter_table('smpp_binds', schema=None) as batch_op:
        batch_op.create_index('ix_smpp_binds_account', ['system_id', 'seen_ms'], unique=False)

    with op.batch_alter_table('smpp_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_binds', sa.Integer(), server_default=sa.text('4'),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('smpp_accounts', schema=None) as batch_op:
        batch_op.drop_column('max_binds')

    with op.batch_alter_table('smpp_binds', schema=None) as batch_op:
        batch_op.drop_index('ix_smpp_binds_account')

    op.drop_table('smpp_binds')
