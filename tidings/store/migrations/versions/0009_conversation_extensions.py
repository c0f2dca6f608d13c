"""conversation messages: `extensions` (channel_properties, system purpose, inbound content
safety); conv_attempts by (channel, identity, created_ms) for read watermarks

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 05:25:21.221170
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conv_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_conv_attempts_identity', ['channel', 'identity', 'created_ms'], unique=False)

    with op.batch_alter_table('conv_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extensions', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('conv_messages', schema=None) as batch_op:
        batch_op.drop_column('extensions')

    with op.batch_alter_table('conv_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_conv_attempts_identity')

