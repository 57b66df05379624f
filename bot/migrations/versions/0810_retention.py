"""retention: archives of audit segments; the audit delete guard lets archived rows go

Revision ID: 0810
Revises: 0850
Create Date: 2026-11-30 06:00:00

`audit_archives` records each whole checkpointed segment moved to a file; the triggers of 0500 are
replaced so that a DELETE of audit_events passes only for rows an archive of the same chain covers
(every other DELETE and UPDATE is refused as before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0810'
down_revision: str | None = '0850'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME = ("NEW.id = OLD.id AND NEW.org_id IS OLD.org_id AND NEW.actor_type = OLD.actor_type AND NEW.action = OLD.action"
         " AND NEW.subject_type = OLD.subject_type AND NEW.created_at = OLD.created_at AND NEW.prev_hash = OLD.prev_hash"
         " AND NEW.hash = OLD.hash AND NEW.personal_digest = OLD.personal_digest AND OLD.erased_at IS NULL"
         " AND NEW.erased_at IS NOT NULL AND NEW.subject_id IS NULL AND NEW.personal_salt = ''"
         " AND (NEW.actor_id IS OLD.actor_id OR (OLD.actor_type = 'customer' AND NEW.actor_id IS NULL))")

_ARCHIVED = "EXISTS (SELECT 1 FROM audit_archives a WHERE a.org_id {same} OLD.org_id AND a.last_id >= OLD.id)"

SQLITE_DELETE_GUARD = (
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events"
    f" WHEN NOT {_ARCHIVED.format(same='IS')}"
    " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (only archived segments may be removed)'); END"
)
SQLITE_OLD_DELETE_GUARD = (
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events"
    " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)


def _pg_guard(with_archives: bool) -> str:
    archived = (f"  IF TG_OP = 'DELETE' AND {_ARCHIVED.format(same='IS NOT DISTINCT FROM')} THEN\n"
                "    RETURN OLD;\n  END IF;\n") if with_archives else ""
    same = _SAME.replace(" IS OLD.", " IS NOT DISTINCT FROM OLD.")
    return f"""CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND ({same} AND NEW.detail::text = '{{}}') THEN
    RETURN NEW;
  END IF;
{archived}  RAISE EXCEPTION 'audit_events is append-only (only erasure of the personal part)';
END $$"""


def upgrade() -> None:
    op.create_table('audit_archives',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('first_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_audit_archives_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_archives'))
    )
    with op.batch_alter_table('audit_archives', schema=None) as batch_op:
        batch_op.create_index('ix_audit_archives_org', ['org_id', 'last_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_pg_guard(with_archives=True))
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute(SQLITE_DELETE_GUARD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_pg_guard(with_archives=False))
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute(SQLITE_OLD_DELETE_GUARD)
    with op.batch_alter_table('audit_archives', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_archives_org')
    op.drop_table('audit_archives')
