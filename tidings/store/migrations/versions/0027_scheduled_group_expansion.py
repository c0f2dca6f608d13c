"""batches.expand_groups_ms, batches.excluded_recipients: a scheduled batch's groups are
expanded when it is sent

A batch with `send_at` in the future whose `to` names groups reaches the members the groups have
at `send_at`, as in XMS, not those they had when it was accepted. Until then the batch holds the
deliveries of its `to`'s own numbers and `expand_groups_ms` (its `send_at`); the sweeper writes
the members' deliveries once that time has come and sets it back to NULL. `excluded_recipients`
holds the numbers an update's `to_remove` took out, which the expansion leaves out (JSON list;
NULL: none). The partial index holds the batches still waiting, by time, so the sweeper's
search reads only those.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-28 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0027'
down_revision: str | Sequence[str] | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WAITING = sa.text('expand_groups_ms IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expand_groups_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('excluded_recipients', sa.JSON(none_as_null=True), nullable=True))
        batch_op.create_index('ix_batches_expand_groups', ['expand_groups_ms'], unique=False,
                              sqlite_where=_WAITING, postgresql_where=_WAITING)


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index('ix_batches_expand_groups', sqlite_where=_WAITING, postgresql_where=_WAITING)
        batch_op.drop_column('excluded_recipients')
        batch_op.drop_column('expand_groups_ms')
