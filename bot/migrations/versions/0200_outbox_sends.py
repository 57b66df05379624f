"""outbox: how many times an item was sent, and the platform id of the delivered copy

Revision ID: 0200
Revises: 0100
Create Date: 2026-11-30

`sends` counts recorded deliveries of an item (above 1 is a duplicate; the metrics histogram shows it).
`platform_message_id` keeps the platform's id of what was delivered even when the thread's copy cannot take
it (the id collides with a stored message of the same identity).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0200"
down_revision: str | Sequence[str] | None = "0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sends", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("platform_message_id", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("platform_message_id")
        batch_op.drop_column("sends")
