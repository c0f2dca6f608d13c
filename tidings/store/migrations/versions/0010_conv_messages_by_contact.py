"""conv_messages by (contact_id, channel, direction, accept_ms): the engine's last inbound and
last outbound message per contact and channel, looked up for every send

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 06:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conv_messages', schema=None) as batch_op:
        batch_op.create_index('ix_conv_messages_contact_channel',
                              ['contact_id', 'channel', 'direction', 'accept_ms'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('conv_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_conv_messages_contact_channel')
