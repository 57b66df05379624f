"""hardening: messages deleted on the platform are marked, Slack DM threads remembered for replies

Revision ID: 0300
Revises: 0100
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0300"
down_revision: str | None = "0600"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
    op.create_table(
        "slack_dm_threads",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("thread_ts", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_slack_dm_threads_org_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_dm_threads")),
        sa.UniqueConstraint("org_id", "user_id", name=op.f("uq_slack_dm_threads_org_id")),
    )
    op.create_index(op.f("ix_slack_dm_threads_user_id"), "slack_dm_threads", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("slack_dm_threads")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("deleted_at")
