"""organizations and roles: platform admins without organization, two-factor columns, service switches,
invitations, password resets, certification applications, platform access grants, broadcasts

Revision ID: 0600
Revises: 0100
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0600"
down_revision: str | None = "0500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete)


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.alter_column("org_id", existing_type=ID, nullable=True)
        batch.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("logo_attachment_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("require_admin_totp", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("services", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "invitations",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", ID, nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("invitations", "org_id", "organizations"),
        _fk("invitations", "invited_by", "agents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(op.f("ix_invitations_org_id"), "invitations", ["org_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=True),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("password_resets", "org_id", "organizations"),
        _fk("password_resets", "agent_id", "agents", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    op.create_index(op.f("ix_password_resets_org_id"), "password_resets", ["org_id"])
    op.create_index(op.f("ix_password_resets_agent_id"), "password_resets", ["agent_id"])
    op.create_table(
        "certification_applications",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("legal_name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("license_attachment_id", ID, nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("submitted_by", ID, nullable=True),
        sa.Column("reviewed_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        _fk("certification_applications", "org_id", "organizations"),
        _fk("certification_applications", "license_attachment_id", "attachments"),
        _fk("certification_applications", "submitted_by", "agents"),
        _fk("certification_applications", "reviewed_by", "agents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification_applications")),
    )
    op.create_index(op.f("ix_certification_applications_org_id"), "certification_applications", ["org_id"])
    op.create_index("ix_certification_applications_state", "certification_applications", ["state", "id"])
    op.create_table(
        "platform_access_grants",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("granted_by", ID, nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("platform_access_grants", "org_id", "organizations"),
        _fk("platform_access_grants", "granted_by", "agents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_access_grants")),
    )
    op.create_index(op.f("ix_platform_access_grants_org_id"), "platform_access_grants", ["org_id"])
    op.create_table(
        "broadcasts",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        _fk("broadcasts", "org_id", "organizations"),
        _fk("broadcasts", "created_by", "agents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("org_id", "client_key", name=op.f("uq_broadcasts_org_id")),
    )
    op.create_index("ix_broadcasts_state", "broadcasts", ["state", "id"])
    op.create_table(
        "broadcast_recipients",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("broadcast_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("identity_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("outbox_id", ID, nullable=True),
        _fk("broadcast_recipients", "org_id", "organizations"),
        _fk("broadcast_recipients", "broadcast_id", "broadcasts", ondelete="CASCADE"),
        _fk("broadcast_recipients", "customer_id", "customers"),
        _fk("broadcast_recipients", "identity_id", "channel_identities"),
        _fk("broadcast_recipients", "outbox_id", "outbox"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_recipients")),
        sa.UniqueConstraint("broadcast_id", "customer_id", name=op.f("uq_broadcast_recipients_broadcast_id")),
    )
    op.create_index(op.f("ix_broadcast_recipients_org_id"), "broadcast_recipients", ["org_id"])
    op.create_index(op.f("ix_broadcast_recipients_customer_id"), "broadcast_recipients", ["customer_id"])


def downgrade() -> None:
    for table in ("broadcast_recipients", "broadcasts", "platform_access_grants", "certification_applications", "password_resets", "invitations"):
        op.drop_table(table)
    with op.batch_alter_table("organizations") as batch:
        for column in ("services", "require_admin_totp", "logo_attachment_id"):
            batch.drop_column(column)
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
        batch.alter_column("org_id", existing_type=ID, nullable=False)
