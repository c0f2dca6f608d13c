"""groups, group_members, batches.requested_to: XMS groups of recipients

A project's groups (name, child groups, auto_update number and keywords) and each group's own
numbers. A batch whose `to` named groups keeps that `to` in `batches.requested_to`; its
recipients are the members the groups had when it was sent.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-28 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0024'
down_revision: str | Sequence[str] | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('groups',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=20), nullable=True),
    sa.Column('child_groups', sa.JSON(), nullable=False),
    sa.Column('auto_to', sa.String(length=32), nullable=True),
    sa.Column('add_first_word', sa.String(length=32), nullable=True),
    sa.Column('add_second_word', sa.String(length=32), nullable=True),
    sa.Column('remove_first_word', sa.String(length=32), nullable=True),
    sa.Column('remove_second_word', sa.String(length=32), nullable=True),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('modified_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.create_index('ix_groups_project_auto_to', ['project_id', 'auto_to'], unique=False)
        batch_op.create_index('ix_groups_project_created', ['project_id', 'created_ms'], unique=False)

    op.create_table('group_members',
    sa.Column('group_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('added_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'number')
    )

    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_to', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('requested_to')

    op.drop_table('group_members')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_index('ix_groups_project_created')
        batch_op.drop_index('ix_groups_project_auto_to')

    op.drop_table('groups')
