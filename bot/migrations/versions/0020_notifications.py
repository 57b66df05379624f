"""notification events, pushes and preferences; Slack agents' channel threads

Revision ID: 0020
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notification_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", ID, nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_notification_events_org_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_events")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_notification_events_dedup_key")),
    )
    op.create_index("ix_notification_events_org", "notification_events", ["org_id", "id"], unique=False)
    op.create_index("ix_notification_events_subject", "notification_events", ["kind", "subject_id"], unique=False)
    op.create_table(
        "notification_pushes",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("outbox_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_notification_pushes_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["notification_events.id"],
            name=op.f("fk_notification_pushes_event_id_notification_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_notification_pushes_org_id_organizations")),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name=op.f("fk_notification_pushes_outbox_id_outbox")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_pushes")),
        sa.UniqueConstraint("event_id", "target_kind", "address", name=op.f("uq_notification_pushes_event_id")),
    )
    op.create_index("ix_notification_pushes_agent", "notification_pushes", ["agent_id", "id"], unique=False)
    op.create_index(
        "ix_notification_pushes_target", "notification_pushes", ["target_kind", "address", "created_at"], unique=False
    )
    op.create_index(op.f("ix_notification_pushes_org_id"), "notification_pushes", ["org_id"], unique=False)
    op.create_table(
        "notification_preferences",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("quiet_start", sa.String(length=5), nullable=False),
        sa.Column("quiet_end", sa.String(length=5), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_notification_preferences_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_notification_preferences_org_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint("agent_id", name=op.f("uq_notification_preferences_agent_id")),
    )
    op.create_index(op.f("ix_notification_preferences_org_id"), "notification_preferences", ["org_id"], unique=False)
    op.create_table(
        "slack_threads",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("thread_ts", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_slack_threads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_slack_threads_org_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_threads")),
        sa.UniqueConstraint("channel", "thread_ts", name=op.f("uq_slack_threads_channel")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_slack_threads_conversation_id")),
    )
    op.create_index(op.f("ix_slack_threads_org_id"), "slack_threads", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_table("slack_threads")
    op.drop_table("notification_preferences")
    op.drop_table("notification_pushes")
    op.drop_table("notification_events")
