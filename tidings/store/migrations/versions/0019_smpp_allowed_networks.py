"""smpp_accounts.allowed_networks: the addresses or networks an account's binds may come from

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 11:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | Sequence[str] | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('smpp_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allowed_networks', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('smpp_accounts', schema=None) as batch_op:
        batch_op.drop_column('allowed_networks')
