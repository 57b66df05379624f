"""telegram channel tables

Revision ID: 0010
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telegram_chats",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_telegram_chats_org_id_organizations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_telegram_chats")),
    )
    op.create_index(op.f("ix_telegram_chats_org_id"), "telegram_chats", ["org_id"], unique=False)
    op.create_table(
        "telegram_sent",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("platform_message_id", sa.String(length=100), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_sent")),
        sa.UniqueConstraint("key", name=op.f("uq_telegram_sent_key")),
    )
    op.create_index(op.f("ix_telegram_sent_sent_at"), "telegram_sent", ["sent_at"], unique=False)
    op.create_table(
        "telegram_topics",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_telegram_topics_conversation_id_conversations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_telegram_topics_org_id_organizations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_topics")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_telegram_topics_conversation_id")),
    )
    op.create_index(op.f("ix_telegram_topics_org_id"), "telegram_topics", ["org_id"], unique=False)
    op.create_index(op.f("ix_telegram_topics_thread_id"), "telegram_topics", ["thread_id"], unique=False)
    op.create_table(
        "telegram_link_codes",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_telegram_link_codes_agent_id_agents"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_telegram_link_codes_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_link_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_telegram_link_codes_code_hash")),
    )
    op.create_index(op.f("ix_telegram_link_codes_agent_id"), "telegram_link_codes", ["agent_id"], unique=False)
    op.create_index(op.f("ix_telegram_link_codes_org_id"), "telegram_link_codes", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_table("telegram_link_codes")
    op.drop_table("telegram_topics")
    op.drop_table("telegram_sent")
    op.drop_table("telegram_chats")
