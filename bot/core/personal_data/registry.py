"""The one registry of personal data: for every table, how its rows belong to a customer and which columns are personal.

Export, deletion and account cancellation read only this registry; `tests/core/test_personal_data_registry.py`
fails when a table of Base.metadata has no entry. Tables are named, not imported, so the registry does not
depend on the modules (channels included) that define them. An owner condition is SQL over the parent tables,
so it must run while those parents still exist: `erase_order()` puts children (and the loose tables whose
condition reads other tables) first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, String, Table, and_, cast, or_, select, union

from bot.core.storage.base import Base

Erase = Literal["delete", "blank", "audit", "customer", "none"]


@dataclass(frozen=True)
class Owner:
    org_id: int
    customer_id: int


@dataclass(frozen=True)
class Entry:
    table: str
    personal: tuple[str, ...] = ()
    owner: Callable[[Owner], ColumnElement[bool]] | None = None
    erase: Erase = "none"
    blank: dict[str, Any] = field(default_factory=dict)
    loose: bool = False  # erased before the ordered walk: its condition reads tables that the walk deletes
    files: bool = False  # rows point at files under data_dir (storage_path)
    why: str = ""  # for tables without customer data: what they hold instead

    @property
    def belongs_to_customers(self) -> bool:
        return self.owner is not None


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def conversation_ids(o: Owner) -> Select[Any]:
    c = table("conversations").c
    return select(c.id).where(c.org_id == o.org_id, c.customer_id == o.customer_id)


def message_ids(o: Owner) -> Select[Any]:
    m = table("messages").c
    return select(m.id).where(m.conversation_id.in_(conversation_ids(o)))


def identity_ids(o: Owner) -> Select[Any]:
    i = table("channel_identities").c
    return select(i.id).where(i.org_id == o.org_id, i.customer_id == o.customer_id)


def external_ids(o: Owner, channel: str | None = None) -> Select[Any]:
    i = table("channel_identities").c
    query = select(i.external_id).where(i.org_id == o.org_id, i.customer_id == o.customer_id)
    return query if channel is None else query.where(i.channel == channel)


def addresses(o: Owner) -> Any:
    ch, cu = table("verification_challenges").c, table("customers").c
    mine = and_(cu.id == o.customer_id, cu.org_id == o.org_id)
    return union(
        select(ch.destination).where(ch.org_id == o.org_id, ch.customer_id == o.customer_id),
        select(cu.email).where(mine, cu.email.is_not(None)),
        select(cu.phone).where(mine, cu.phone.is_not(None)),
    )


def _by_customer(name: str) -> Callable[[Owner], ColumnElement[bool]]:
    def cond(o: Owner) -> ColumnElement[bool]:
        c = table(name).c
        return and_(c.org_id == o.org_id, c.customer_id == o.customer_id)

    return cond


def _via_conversation(name: str) -> Callable[[Owner], ColumnElement[bool]]:
    return lambda o: table(name).c.conversation_id.in_(conversation_ids(o))


def _via_message(name: str) -> Callable[[Owner], ColumnElement[bool]]:
    return lambda o: table(name).c.message_id.in_(message_ids(o))


def _attachments(o: Owner) -> ColumnElement[bool]:
    a, m = table("attachments").c, table("messages").c
    sent_in_thread = select(m.attachment_id).where(m.conversation_id.in_(conversation_ids(o)), m.attachment_id.is_not(None))
    return and_(a.org_id == o.org_id, or_(a.customer_id == o.customer_id, a.id.in_(sent_in_thread)))


def _outbox(o: Owner) -> ColumnElement[bool]:
    ob = table("outbox").c
    # the final notice of a deletion is left to be sent, then purged (bot/core/rights/sweeps.py)
    return and_(or_(ob.message_id.in_(message_ids(o)), and_(ob.org_id == o.org_id, ob.target.in_(external_ids(o)))),
                ~ob.idempotency_key.startswith("rights-final:"))


def _audit(o: Owner) -> ColumnElement[bool]:
    a = table("audit_events").c
    subjects = [
        ("customer", None), ("conversation", conversation_ids(o)), ("channel_identity", identity_ids(o)),
        ("attachment", select(table("attachments").c.id).where(_attachments(o))),
        ("rights_request", select(table("rights_requests").c.id).where(
            table("rights_requests").c.org_id == o.org_id, table("rights_requests").c.customer_id == o.customer_id)),
    ]
    conds = [and_(a.subject_type == "customer", a.subject_id == o.customer_id),
             and_(a.actor_type == "customer", a.actor_id == o.customer_id)]
    conds += [and_(a.subject_type == kind, a.subject_id.in_(ids)) for kind, ids in subjects if ids is not None]
    return and_(a.org_id == o.org_id, or_(*conds))


def _verification_locks(o: Owner) -> ColumnElement[bool]:
    v = table("verification_locks").c
    ids_as_text = select(cast(table("channel_identities").c.id, String)).where(
        table("channel_identities").c.id.in_(identity_ids(o)))
    return and_(v.org_id == o.org_id, or_(
        and_(v.scope == "identity", v.key.in_(ids_as_text)),
        and_(v.scope == "destination", v.key.in_(addresses(o))),
    ))


def _notification_events(o: Owner) -> ColumnElement[bool]:
    e = table("notification_events").c
    locks = select(table("verification_locks").c.id).where(_verification_locks(o))
    return and_(e.org_id == o.org_id, or_(
        and_(e.subject_type == "conversation", e.subject_id.in_(conversation_ids(o))),
        and_(e.subject_type == "verification_lock", e.subject_id.in_(locks)),
        and_(e.subject_type == "customer", e.subject_id == o.customer_id),
    ))


def _notification_pushes(o: Owner) -> ColumnElement[bool]:
    return table("notification_pushes").c.event_id.in_(select(table("notification_events").c.id).where(_notification_events(o)))


def _telegram_chats(o: Owner) -> ColumnElement[bool]:
    return cast(table("telegram_chats").c.chat_id, String).in_(external_ids(o, "telegram"))


def _rights_events(o: Owner) -> ColumnElement[bool]:
    r = table("rights_requests").c
    return table("rights_request_events").c.request_id.in_(
        select(r.id).where(r.org_id == o.org_id, r.customer_id == o.customer_id))


def _work_order_events(o: Owner) -> ColumnElement[bool]:
    w = table("work_orders").c
    return table("work_order_events").c.work_order_id.in_(select(w.id).where(w.org_id == o.org_id, w.customer_id == o.customer_id))


def _slack_dm_threads(o: Owner) -> ColumnElement[bool]:
    t = table("slack_dm_threads").c
    return and_(t.org_id == o.org_id, t.user_id.in_(external_ids(o, "slack")))


def _not_customer(name: str, why: str) -> Entry:
    return Entry(name, why=why)


ENTRIES: tuple[Entry, ...] = (
    # loose tables, erased first and in this order (each condition reads the tables after it)
    Entry("audit_events", ("subject_id", "detail", "actor_id"), _audit, "audit", loose=True),
    Entry("notification_pushes", (), _notification_pushes, "delete", loose=True),
    Entry("notification_events", ("title", "detail"), _notification_events, "delete", loose=True),
    Entry("verification_locks", ("key",), _verification_locks, "delete", loose=True),
    Entry("telegram_chats", ("chat_id",), _telegram_chats, "delete", loose=True),
    Entry("customers", ("name", "email", "phone"), lambda o: and_(table("customers").c.id == o.customer_id,
                                                                 table("customers").c.org_id == o.org_id), erase="customer"),
    Entry("channel_identities", ("external_id", "display_name", "flow_state"), _by_customer("channel_identities"), "delete"),
    Entry("conversations", ("last_message_preview",), _by_customer("conversations"), "delete"),
    Entry("messages", ("text", "latitude", "longitude", "platform_message_id"), _via_conversation("messages"), "delete"),
    Entry("attachments", ("filename", "storage_path", "sha256"), _attachments, "delete", files=True),
    Entry("outbox", ("target", "payload", "last_error"), _outbox, "delete"),
    Entry("consents", (), _by_customer("consents"), "delete"),
    Entry("verification_challenges", ("destination",), _by_customer("verification_challenges"), "delete"),
    Entry("telegram_topics", (), _via_conversation("telegram_topics"), "delete"),
    Entry("telegram_topic_messages", (), _via_message("telegram_topic_messages"), "delete"),
    Entry("slack_threads", (), _via_conversation("slack_threads"), "delete"),
    # the tombstone stays: number, type, dates, statuses, outcome; what people wrote into it goes
    Entry("rights_requests", ("details", "extension_reason"), _by_customer("rights_requests"), "blank",
          blank={"details": {}, "extension_reason": ""}),
    Entry("rights_request_events", ("note",), _rights_events, "blank", blank={"note": ""}),
    Entry("app_authorizations", (), _by_customer("app_authorizations"), "delete"),
    Entry("work_orders", ("description",), _by_customer("work_orders"), "delete"),
    Entry("work_order_events", ("detail",), _work_order_events, "delete"),
    Entry("conversation_clocks", (), _via_conversation("conversation_clocks"), "delete"),
    Entry("csat_responses", ("comment",), _by_customer("csat_responses"), "delete"),
    Entry("broadcast_recipients", (), _by_customer("broadcast_recipients"), "delete"),
    Entry("conversation_labels", ("label",), _via_conversation("conversation_labels"), "delete"),
    Entry("conversation_triage", (), _via_conversation("conversation_triage"), "delete"),
    Entry("slack_dm_threads", ("user_id", "thread_ts"), _slack_dm_threads, "delete", loose=True),
    _not_customer("third_party_apps", "the organization's third-party applications"),
    _not_customer("deletion_notices", "notices to the organization's apps, naming the customer only by a pseudonym"),
    _not_customer("organizations", "the organization's own profile"),
    _not_customer("agents", "the organization's staff accounts"),
    _not_customer("agent_sessions", "staff sign-in sessions (token hashes)"),
    _not_customer("notification_targets", "staff push addresses"),
    _not_customer("notification_preferences", "staff push preferences"),
    _not_customer("telegram_link_codes", "hashes of staff chat-link codes"),
    _not_customer("telegram_sent", "outbox keys and Telegram message numbers, no content"),
    _not_customer("policy_versions", "published policy versions"),
    _not_customer("audit_checkpoints", "head hashes and counts of the audit chains"),
    _not_customer("audit_archives", "where archived audit segments went (ids, hashes, counts; the files hold no personal part)"),
    _not_customer("invitations", "invitations of staff members"),
    _not_customer("password_resets", "hashes of staff password-reset links"),
    _not_customer("certification_applications", "the organization's certification application"),
    _not_customer("platform_access_grants", "the organization's grants of platform access"),
    _not_customer("broadcasts", "the organization's notices to every customer"),
    _not_customer("chat_widgets", "the organization's web chat widget settings"),
    _not_customer("saved_views", "staff members' saved searches"),
    _not_customer("canned_replies", "the organization's canned replies"),
    _not_customer("report_counts", "weekly counters of the organization's reports (no customer in them)"),
)

REGISTRY: dict[str, Entry] = {entry.table: entry for entry in ENTRIES}


def unclassified_tables() -> list[str]:
    return sorted(name for name in Base.metadata.tables if name not in REGISTRY)


def customer_entries() -> list[Entry]:
    """Registered tables holding customers' rows, in Base.metadata order (parents first)."""
    return [REGISTRY[t.name] for t in Base.metadata.sorted_tables if t.name in REGISTRY and REGISTRY[t.name].belongs_to_customers]


def erase_order() -> list[Entry]:
    """Loose tables first (their conditions read the rest), then children before parents."""
    return [e for e in ENTRIES if e.loose] + [e for e in reversed(customer_entries()) if not e.loose]
