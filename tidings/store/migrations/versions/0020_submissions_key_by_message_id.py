"""submissions: primary key (smsc_message_id, connection), the message id first

A flush's receipts are looked up as `connection = ? AND smsc_message_id IN (…)`. With the
connection first in the key, PostgreSQL without statistics on the table (a new or fast-growing
one) read every row of the connection and filtered them against the ids; with the message id
first, the ids are what the key is searched by.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 16:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | Sequence[str] | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "connection, smsc_message_id, delivery_id, part, parts, status, code, submitted_ms"


def _rekey(*key: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE submissions DROP CONSTRAINT submissions_pkey, "
                   f"ADD CONSTRAINT submissions_pkey PRIMARY KEY ({', '.join(key)})")
        return
    # SQLite cannot change a table's primary key: a copy with the new key takes its place.
    op.create_table(
        'submissions_rekeyed',
        sa.Column('connection', sa.String(length=64), nullable=False),
        sa.Column('smsc_message_id', sa.String(length=72), nullable=False),
        sa.Column('delivery_id', sa.BigInteger(), nullable=False),
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('code', sa.Integer(), nullable=False),
        sa.Column('submitted_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name='submissions_pkey'),
    )
    op.execute(f"INSERT INTO submissions_rekeyed ({COLUMNS}) SELECT {COLUMNS} FROM submissions")
    op.drop_index('ix_submissions_delivery_id', table_name='submissions')
    op.drop_table('submissions')
    op.rename_table('submissions_rekeyed', 'submissions')
    op.create_index('ix_submissions_delivery_id', 'submissions', ['delivery_id'])


def upgrade() -> None:
    _rekey('smsc_message_id', 'connection')


def downgrade() -> None:
    _rekey('connection', 'smsc_message_id')
