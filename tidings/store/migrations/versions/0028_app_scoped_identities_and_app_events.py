"""conv_identities.app_id in the key (app-scoped channel identities); conv_app_events (events:send)

A contact's identity on an app-scoped channel (Messenger, Instagram, LINE, WeChat: the platform
gives each app's page or bot its own id for a person) belongs to one app: the key of
conv_identities becomes (project_id, channel, identity, app_id), with app_id "" for the
identities every app reaches — all those there were. conv_app_events holds the app events
accepted by `events:send` until they are delivered on their channel. conv_conversations gets
Sinch's `metadata_json` and `correlation_id` (conversations create / update).

Downgrading keeps one row per (project_id, channel, identity): the app-less one, else the one of
the first app id; conv_app_events goes.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-28 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0028'
down_revision: str | Sequence[str] | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = ('project_id', 'channel', 'identity')
NEW_KEY = ('project_id', 'channel', 'identity', 'app_id')
COLUMNS = 'project_id, channel, identity, app_id, contact_id, position'


def _identities_table(name: str, key: Sequence[str]) -> None:
    op.create_table(
        name,
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('identity', sa.String(length=320), nullable=False),
        sa.Column('app_id', sa.String(length=32), server_default='', nullable=False),
        sa.Column('contact_id', sa.String(length=32), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name='conv_identities_pkey'),
    )


def _rekey(key: Sequence[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE conv_identities DROP CONSTRAINT conv_identities_pkey, "
                   f"ADD CONSTRAINT conv_identities_pkey PRIMARY KEY ({', '.join(key)})")
        return
    # SQLite cannot change a table's primary key: a copy with the new key takes its place.
    _identities_table('conv_identities_rekeyed', key)
    op.execute(f"INSERT INTO conv_identities_rekeyed ({COLUMNS}) SELECT {COLUMNS} FROM conv_identities")
    op.drop_index('ix_conv_identities_contact_id', table_name='conv_identities')
    op.drop_table('conv_identities')
    op.rename_table('conv_identities_rekeyed', 'conv_identities')
    op.create_index('ix_conv_identities_contact_id', 'conv_identities', ['contact_id'])


def upgrade() -> None:
    with op.batch_alter_table('conv_identities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('app_id', sa.String(length=32), server_default='', nullable=False))
    _rekey(NEW_KEY)
    with op.batch_alter_table('conv_conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('metadata_json', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('correlation_id', sa.String(length=128), nullable=True))
    op.create_table(
        'conv_app_events',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('contact_id', sa.String(length=32), nullable=True),
        sa.Column('conversation_id', sa.String(length=32), nullable=True),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('identity', sa.String(length=320), nullable=False),
        sa.Column('event', sa.JSON(), nullable=False),
        sa.Column('metadata', sa.Text(), nullable=True),
        sa.Column('callback_url', sa.Text(), nullable=True),
        sa.Column('processing_mode', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('tries', sa.Integer(), nullable=False),
        sa.Column('next_ms', sa.BigInteger(), nullable=True),
        sa.Column('claimed_ms', sa.BigInteger(), nullable=True),
        sa.Column('accept_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_conv_app_events_due', 'conv_app_events', ['state', 'next_ms'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_conv_app_events_due', table_name='conv_app_events')
    op.drop_table('conv_app_events')
    with op.batch_alter_table('conv_conversations', schema=None) as batch_op:
        batch_op.drop_column('correlation_id')
        batch_op.drop_column('metadata_json')
    # One row per old key: the app-less identity, else the one of the smallest app id.
    op.execute("DELETE FROM conv_identities WHERE EXISTS (SELECT 1 FROM conv_identities o "
               "WHERE o.project_id = conv_identities.project_id AND o.channel = conv_identities.channel "
               "AND o.identity = conv_identities.identity AND o.app_id < conv_identities.app_id)")
    _rekey(OLD_KEY)
    with op.batch_alter_table('conv_identities', schema=None) as batch_op:
        batch_op.drop_column('app_id')
