"""consent ledger: events, current state, settings, double opt-in confirmations; batches.purpose

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 06:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('consent_events',
    sa.Column('id', _BigId, autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('identity', sa.String(length=320), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('proof', sa.JSON(), nullable=False),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index('ix_consent_events_identity', ['project_id', 'identity', 'id'], unique=False)

    op.create_table('consent_state',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('identity', sa.String(length=320), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'identity', 'channel', 'purpose')
    )
    with op.batch_alter_table('consent_state', schema=None) as batch_op:
        batch_op.create_index('ix_consent_state_list', ['project_id', 'purpose', 'action', 'identity'], unique=False)

    op.create_table('consent_settings',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('project_id', 'sender')
    )
    op.create_table('consent_confirmations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('identity', sa.String(length=320), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('purposes', sa.JSON(), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=True),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('request_ref', sa.String(length=64), nullable=True),
    sa.Column('request_proof', sa.JSON(), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('expires_ms', sa.BigInteger(), nullable=False),
    sa.Column('confirmed_ms', sa.BigInteger(), nullable=True),
    sa.Column('event_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consent_confirmations', schema=None) as batch_op:
        batch_op.create_index('ix_consent_confirmations_identity', ['project_id', 'identity', 'channel', 'state'], unique=False)

    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('purpose')
    with op.batch_alter_table('consent_confirmations', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_confirmations_identity')
    op.drop_table('consent_confirmations')
    op.drop_table('consent_settings')
    with op.batch_alter_table('consent_state', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_state_list')
    op.drop_table('consent_state')
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_events_identity')
    op.drop_table('consent_events')
