"""outbox: ix_outbox_due (state, channel, next_attempt_at, id), so a claim reads due items in due order with a LIMIT

Revision ID: 0840
Revises: 0820
Create Date: 2026-11-30 05:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0840'
down_revision: str | None = '0820'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['state', 'channel', 'next_attempt_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')
