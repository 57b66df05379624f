"""rights requests, third-party apps and deletion notices, audit personal digests and checkpoints, append-only audit guard

Revision ID: 0500
Revises: 0100
Create Date: 2026-11-30 02:20:21

Existing audit rows are re-chained once under the new digest (personal part salted and hashed apart), then
triggers refuse every DELETE of audit_events and every UPDATE except erasure: blanking the personal part
(subject_id, detail, salt, a customer actor's id) of a row not yet erased while stamping erased_at.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0500'
down_revision: str | None = '0400'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('head_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_audit_checkpoints_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index('ix_audit_checkpoints_org', ['org_id', 'id'], unique=False)

    op.create_table('rights_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('identity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('ground', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('repeated', sa.Boolean(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('paused_since', sa.DateTime(), nullable=True),
    sa.Column('paused_days', sa.Integer(), nullable=False),
    sa.Column('extended_days', sa.Integer(), nullable=False),
    sa.Column('extension_reason', sa.Text(), nullable=False),
    sa.Column('assignee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('outcome_reason', sa.Text(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('backup_until', sa.DateTime(), nullable=True),
    sa.Column('subject_hash', sa.String(length=64), nullable=False),
    sa.Column('export_path', sa.String(length=500), nullable=False),
    sa.Column('export_state', sa.String(length=12), nullable=False),
    sa.Column('export_progress', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['agents.id'], name=op.f('fk_rights_requests_assignee_id_agents')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_rights_requests_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['identity_id'], ['channel_identities.id'], name=op.f('fk_rights_requests_identity_id_channel_identities'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_rights_requests_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights_requests')),
    sa.UniqueConstraint('org_id', 'number', name=op.f('uq_rights_requests_org_id'))
    )
    with op.batch_alter_table('rights_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rights_requests_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_rights_requests_queue', ['org_id', 'status', 'due_at'], unique=False)

    op.create_table('rights_request_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('actor_type', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=False),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_rights_request_events_org_id_organizations')),
    sa.ForeignKeyConstraint(['request_id'], ['rights_requests.id'], name=op.f('fk_rights_request_events_request_id_rights_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights_request_events'))
    )
    with op.batch_alter_table('rights_request_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rights_request_events_org_id'), ['org_id'], unique=False)
        batch_op.create_index('ix_rights_request_events_request', ['request_id', 'id'], unique=False)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('personal_salt', sa.String(length=32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('personal_digest', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_attachment', ['attachment_id'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_message', ['message_id'], unique=False)

    op.create_table('third_party_apps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('data_categories', sa.JSON(), nullable=False),
    sa.Column('notice_webhook', sa.String(length=500), nullable=False),
    sa.Column('notice_email', sa.String(length=320), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_third_party_apps_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_third_party_apps'))
    )
    with op.batch_alter_table('third_party_apps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_third_party_apps_org_id'), ['org_id'], unique=False)

    op.create_table('app_authorizations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['third_party_apps.id'], name=op.f('fk_app_authorizations_app_id_third_party_apps')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_app_authorizations_customer_id_customers')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_app_authorizations_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_authorizations')),
    sa.UniqueConstraint('customer_id', 'app_id', name=op.f('uq_app_authorizations_customer_id'))
    )
    with op.batch_alter_table('app_authorizations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_authorizations_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_authorizations_org_id'), ['org_id'], unique=False)

    op.create_table('deletion_notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('via', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=14), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['third_party_apps.id'], name=op.f('fk_deletion_notices_app_id_third_party_apps')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_deletion_notices_org_id_organizations')),
    sa.ForeignKeyConstraint(['request_id'], ['rights_requests.id'], name=op.f('fk_deletion_notices_request_id_rights_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deletion_notices')),
    sa.UniqueConstraint('request_id', 'app_id', name=op.f('uq_deletion_notices_request_id'))
    )
    with op.batch_alter_table('deletion_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deletion_notices_org_id'), ['org_id'], unique=False)

    _rechain_audit()
    for statement in (PG_GUARD if op.get_bind().dialect.name == "postgresql" else SQLITE_GUARD):
        op.execute(statement)


AUDIT = sa.table(
    "audit_events", sa.column("id", sa.Integer), sa.column("org_id", sa.Integer), sa.column("actor_type", sa.String),
    sa.column("actor_id", sa.Integer), sa.column("action", sa.String), sa.column("subject_type", sa.String),
    sa.column("subject_id", sa.Integer), sa.column("detail", sa.JSON), sa.column("created_at", sa.DateTime),
    sa.column("prev_hash", sa.String), sa.column("hash", sa.String), sa.column("personal_salt", sa.String),
    sa.column("personal_digest", sa.String),
)


def _rechain_audit() -> None:
    import secrets

    from bot.core.orgs.audit import chain_digest, personal_digest

    conn = op.get_bind()
    heads: dict[object, str] = {}
    for row in conn.execute(sa.select(AUDIT).order_by(AUDIT.c.org_id, AUDIT.c.id)).mappings().all():
        salt = secrets.token_hex(16)
        digest = personal_digest(salt, row["actor_type"], row["actor_id"], row["subject_id"], row["detail"] or {})
        prev = heads.get(row["org_id"], "")
        new_hash = chain_digest(prev, row["org_id"], row["actor_type"], row["actor_id"], row["action"],
                                row["subject_type"], row["created_at"], digest)
        conn.execute(sa.update(AUDIT).where(AUDIT.c.id == row["id"]).values(
            personal_salt=salt, personal_digest=digest, prev_hash=prev, hash=new_hash))
        heads[row["org_id"]] = new_hash


_SAME = ("NEW.id = OLD.id AND NEW.org_id IS OLD.org_id AND NEW.actor_type = OLD.actor_type AND NEW.action = OLD.action"
         " AND NEW.subject_type = OLD.subject_type AND NEW.created_at = OLD.created_at AND NEW.prev_hash = OLD.prev_hash"
         " AND NEW.hash = OLD.hash AND NEW.personal_digest = OLD.personal_digest AND OLD.erased_at IS NULL"
         " AND NEW.erased_at IS NOT NULL AND NEW.subject_id IS NULL AND NEW.personal_salt = ''"
         " AND (NEW.actor_id IS OLD.actor_id OR (OLD.actor_type = 'customer' AND NEW.actor_id IS NULL))")

SQLITE_GUARD = [
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events"
    " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_only_erasure BEFORE UPDATE ON audit_events"
    f" WHEN NOT ({_SAME} AND NEW.detail = '{{}}')"
    " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (only erasure of the personal part)'); END",
]

PG_GUARD = [
    f"""CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND ({_SAME.replace(" IS OLD.", " IS NOT DISTINCT FROM OLD.")} AND NEW.detail::text = '{{}}') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only (only erasure of the personal part)';
END $$""",
    "CREATE TRIGGER audit_events_guard BEFORE UPDATE OR DELETE ON audit_events"
    " FOR EACH ROW EXECUTE FUNCTION audit_events_guard()",
]


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_guard ON audit_events")
        op.execute("DROP FUNCTION audit_events_guard()")
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute("DROP TRIGGER audit_events_only_erasure")
    with op.batch_alter_table('deletion_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deletion_notices_org_id'))

    op.drop_table('deletion_notices')
    with op.batch_alter_table('app_authorizations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_authorizations_org_id'))
        batch_op.drop_index(batch_op.f('ix_app_authorizations_app_id'))

    op.drop_table('app_authorizations')
    with op.batch_alter_table('third_party_apps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_third_party_apps_org_id'))

    op.drop_table('third_party_apps')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_attachment')

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('personal_digest')
        batch_op.drop_column('personal_salt')

    with op.batch_alter_table('rights_request_events', schema=None) as batch_op:
        batch_op.drop_index('ix_rights_request_events_request')
        batch_op.drop_index(batch_op.f('ix_rights_request_events_org_id'))

    op.drop_table('rights_request_events')
    with op.batch_alter_table('rights_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_rights_requests_queue')
        batch_op.drop_index(batch_op.f('ix_rights_requests_customer_id'))

    op.drop_table('rights_requests')
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_checkpoints_org')

    op.drop_table('audit_checkpoints')
