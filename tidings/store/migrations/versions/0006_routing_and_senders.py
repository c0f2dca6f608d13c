"""sms routing and sender ids: route statistics, delivery costs, sender registry and policies

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('route_stats',
    sa.Column('worker', sa.String(length=64), nullable=False),
    sa.Column('route', sa.String(length=64), nullable=False),
    sa.Column('destination', sa.String(length=8), nullable=False),
    sa.Column('delivered', sa.Float(), nullable=False),
    sa.Column('failed', sa.Float(), nullable=False),
    sa.Column('latency_sum_ms', sa.Float(), nullable=False),
    sa.Column('latency_n', sa.Float(), nullable=False),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('worker', 'route', 'destination')
    )
    op.create_table('delivery_costs',
    sa.Column('delivery_id', sa.BigInteger(), nullable=False),
    sa.Column('route', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('recorded_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('delivery_id')
    )
    op.create_table('senders',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('modified_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'address', name='uq_senders_project_address')
    )
    op.create_table('sender_registrations',
    sa.Column('sender_id', sa.String(length=32), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['senders.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sender_id', 'country')
    )
    op.create_table('sender_policies',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('defaults', sa.JSON(), nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('project_id')
    )


def downgrade() -> None:
    op.drop_table('sender_policies')
    op.drop_table('sender_registrations')
    op.drop_table('senders')
    op.drop_table('delivery_costs')
    op.drop_table('route_stats')
