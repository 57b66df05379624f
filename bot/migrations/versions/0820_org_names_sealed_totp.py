"""organization names unique in the database (folded name_key); TOTP secrets sealed at rest

Revision ID: 0820
Revises: 0810
Create Date: 2026-11-30

`organizations.name_key` is the folded name (NFKC, case-folded, runs of spaces as one) under a UNIQUE
constraint. Rows that an earlier race let share a name keep it, and the later ones get a key suffixed with
their id, so the constraint holds and no organization is renamed.

`agents.totp_secret` widens to hold a sealed value (`v1:` + AES-GCM, bot/core/security/sealed.py). When the
upgrade is run with the server's secret_key (`incs run`, `incs db upgrade` pass it), every plaintext secret is
sealed here; otherwise the application seals each one the first time it reads it.
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0820"
down_revision: str | None = "0810"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fold(name: str) -> str:
    # A copy of bot.core.orgs.organizations.name_key as of this revision (a migration does not follow later changes).
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("name_key", sa.String(length=640), nullable=True))
    orgs = sa.table("organizations", sa.column("id", sa.Integer), sa.column("name", sa.String),
                    sa.column("name_key", sa.String))
    seen: set[str] = set()
    for org_id, name in bind.execute(sa.select(orgs.c.id, orgs.c.name).order_by(orgs.c.id)).all():
        key = _fold(name)
        if key in seen:
            key = f"{key} #{org_id}"
        seen.add(key)
        bind.execute(orgs.update().where(orgs.c.id == org_id).values(name_key=key))
    with op.batch_alter_table("organizations") as batch:
        batch.alter_column("name_key", existing_type=sa.String(length=640), nullable=False)
        batch.create_unique_constraint(batch.f("uq_organizations_name_key"), ["name_key"])

    with op.batch_alter_table("agents") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(length=64), type_=sa.String(length=255),
                           existing_nullable=False)
    secret_key = context.config.attributes.get("secret_key") or ""
    if secret_key:
        from bot.core.security.sealed import is_sealed, seal

        agents = sa.table("agents", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String))
        for agent_id, stored in bind.execute(sa.select(agents.c.id, agents.c.totp_secret).where(agents.c.totp_secret != "")).all():
            if not is_sealed(stored):
                sealed = seal(secret_key=secret_key, purpose="totp", bound_to=f"agent:{agent_id}", value=stored)
                bind.execute(agents.update().where(agents.c.id == agent_id).values(totp_secret=sealed))


def downgrade() -> None:
    secret_key = context.config.attributes.get("secret_key") or ""
    bind = op.get_bind()
    agents = sa.table("agents", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String))
    from bot.core.security.sealed import is_sealed, open_value

    for agent_id, stored in bind.execute(sa.select(agents.c.id, agents.c.totp_secret).where(agents.c.totp_secret != "")).all():
        if is_sealed(stored):
            if not secret_key:
                raise RuntimeError("downgrading below 0820 needs the secret_key to unseal TOTP secrets")
            plain = open_value(secret_key=secret_key, purpose="totp", bound_to=f"agent:{agent_id}", stored=stored).value
            bind.execute(agents.update().where(agents.c.id == agent_id).values(totp_secret=plain))
    with op.batch_alter_table("agents") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(length=255), type_=sa.String(length=64),
                           existing_nullable=False)
    with op.batch_alter_table("organizations") as batch:
        batch.drop_constraint("uq_organizations_name_key", type_="unique")
        batch.drop_column("name_key")
