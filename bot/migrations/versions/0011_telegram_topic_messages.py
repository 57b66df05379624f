"""telegram topic message copies (edits follow a message into and out of the agents' topic)

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telegram_topic_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("topic_message_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_telegram_topic_messages_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_topic_messages")),
        sa.UniqueConstraint("chat_id", "topic_message_id", name=op.f("uq_telegram_topic_messages_chat_id")),
    )
    op.create_index(op.f("ix_telegram_topic_messages_message_id"), "telegram_topic_messages", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_table("telegram_topic_messages")
