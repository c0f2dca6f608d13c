"""batches.from_ton, batches.from_npi: the sender's type of number and numbering plan, when the
caller overrides their detection from the `from` address (XMS `from_ton`, `from_npi`; the SMPP
gateway's source_addr_ton and source_addr_npi). NULL: detected.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-28 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | Sequence[str] | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('from_ton', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('from_npi', sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('from_npi')
        batch_op.drop_column('from_ton')
