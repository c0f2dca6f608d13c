"""deliveries.feedback_ms: the customer's confirmation that the recipient got the message

XMS delivery feedback (`POST /batches/{id}/delivery_feedback`, batches sent with
`feedback_enabled`) is recorded on the delivery, once.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-28 01:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: str | Sequence[str] | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feedback_ms', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('feedback_ms')
