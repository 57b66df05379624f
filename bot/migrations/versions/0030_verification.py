"""verification challenges, locks, customers.verification_method

Revision ID: 0030
Revises: 0002
Create Date: 2026-11-29 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "verification_challenges",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("identity_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("destination", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_verification_challenges_org_id_organizations")),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["channel_identities.id"],
            name=op.f("fk_verification_challenges_identity_id_channel_identities"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_verification_challenges_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_challenges")),
    )
    with op.batch_alter_table("verification_challenges", schema=None) as batch_op:
        batch_op.create_index("ix_verification_challenges_identity", ["identity_id", "id"], unique=False)
        batch_op.create_index("ix_verification_challenges_destination", ["org_id", "destination", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_verification_challenges_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_verification_challenges_customer_id"), ["customer_id"], unique=False)
    op.create_table(
        "verification_locks",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("scope", sa.String(length=12), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("lock_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_verification_locks_org_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_locks")),
        sa.UniqueConstraint("org_id", "scope", "key", name=op.f("uq_verification_locks_org_id")),
    )
    with op.batch_alter_table("verification_locks", schema=None) as batch_op:
        batch_op.create_index("ix_verification_locks_active", ["org_id", "locked_until"], unique=False)
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verification_method", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("verification_method")
    op.drop_table("verification_locks")
    op.drop_table("verification_challenges")
