"""Which rows each retention category removes, read onto the personal-data registry's tables.

A category has a setting (`retention.<name>_days`), a main table and a condition saying which of its rows have
expired at a cutoff; the rows that hang off them (events, mirrors, links) go with them in `purge.py`.
`COVERAGE` names, for every registry table that holds customers' data, the category that limits how long it
is kept, or why it has none (kept while the account lives, erased with the customer); a test fails when a
table is missing. A condition is evaluated again inside the deleting transaction, so a row that became young
meanwhile (a new message in an old conversation) stays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, exists, func, not_, select

from bot.core.storage.base import Base

CLOSED_RIGHTS = ("fulfilled", "denied", "withdrawn")
ERASURE_KINDS = ("delete", "cancel")
KEPT_WITH_ACCOUNT = "kept while the account lives; erased with the customer (rights request delete or cancel)"


def table(name: str) -> Table | None:
    """Tables are named, not imported (the core does not import channels): None when a table is not loaded."""
    return Base.metadata.tables.get(name)


def _t(name: str) -> Table:
    found = table(name)
    assert found is not None, name
    return found


@dataclass(frozen=True)
class Category:
    name: str
    table: str
    expired: Callable[[datetime], ColumnElement[bool]]
    what: str

    @property
    def setting(self) -> str:
        return f"{self.name}_days"


def _outbox(cutoff: datetime) -> ColumnElement[bool]:
    o = _t("outbox").c
    return and_(o.state.in_(("sent", "failed")), o.created_at < cutoff)


def _telegram_journal(cutoff: datetime) -> ColumnElement[bool]:
    return _t("telegram_sent").c.sent_at < cutoff


def _work_orders(cutoff: datetime) -> ColumnElement[bool]:
    w = _t("work_orders").c
    return and_(w.status.in_(("resolved", "closed")), func.coalesce(w.closed_at, w.resolved_at) < cutoff)


def _attachments(cutoff: datetime) -> ColumnElement[bool]:
    a = _t("attachments").c
    licenses = select(_t("certification_applications").c.license_attachment_id).where(
        _t("certification_applications").c.license_attachment_id.is_not(None))
    logos = select(_t("organizations").c.logo_attachment_id).where(_t("organizations").c.logo_attachment_id.is_not(None))
    return and_(a.created_at < cutoff, a.id.not_in(licenses), a.id.not_in(logos))


def _messages(cutoff: datetime) -> ColumnElement[bool]:
    m, o = _t("messages"), _t("outbox")
    queued = exists().where(o.c.message_id == m.c.id, o.c.state.in_(("pending", "sending")))
    return and_(m.c.created_at < cutoff, not_(queued))


def conversation_expired(messages_cutoff: datetime, work_orders_cutoff: datetime | None) -> ColumnElement[bool]:
    """A conversation goes once it is inactive past the messages' cutoff and nothing of it stays: none of its
    messages is kept, and no work order of it is kept (work orders are purged first)."""
    c, m, w = _t("conversations"), _t("messages"), _t("work_orders")
    kept_message = exists().where(m.c.conversation_id == c.c.id, not_(_messages(messages_cutoff)))
    kept_order = exists().where(w.c.conversation_id == c.c.id)
    if work_orders_cutoff is not None:
        kept_order = exists().where(w.c.conversation_id == c.c.id, not_(_work_orders(work_orders_cutoff)))
    return and_(c.c.last_activity_at < messages_cutoff, not_(kept_message), not_(kept_order))


def _answered(cutoff: datetime) -> ColumnElement[bool]:
    r = _t("rights_requests").c
    return and_(r.status.in_(CLOSED_RIGHTS), r.closed_at < cutoff)


def _tombstone() -> ColumnElement[bool]:
    r = _t("rights_requests").c
    return and_(r.kind.in_(ERASURE_KINDS), r.status == "fulfilled")


def _rights_requests(cutoff: datetime) -> ColumnElement[bool]:
    return and_(_answered(cutoff), not_(_tombstone()))


def _tombstones(cutoff: datetime) -> ColumnElement[bool]:
    return and_(_answered(cutoff), _tombstone())


# In the order a run purges them: work orders before the conversations they keep; messages before attachments.
CATEGORIES: tuple[Category, ...] = (
    Category("outbox", "outbox", _outbox, "delivered (sent or failed) outbox rows"),
    Category("telegram_journal", "telegram_sent", _telegram_journal, "Telegram send journal"),
    Category("work_orders", "work_orders", _work_orders, "resolved or closed work orders, their events and ratings"),
    Category("messages", "messages", _messages, "messages and their mirrors; then conversations left empty"),
    Category("attachments", "attachments", _attachments, "attachments and their files"),
    Category("rights_requests", "rights_requests", _rights_requests, "answered rights requests and their timelines"),
    Category("tombstones", "rights_requests", _tombstones, "fulfilled deletion and cancellation requests"),
)
AUDIT = "audit"  # audit events: whole checkpointed segments, archived (bot/core/orgs/audit_archive.py)

# Every registry table holding customers' data: the category that limits it, or why none does.
COVERAGE: dict[str, str] = {
    "messages": "messages", "telegram_topic_messages": "messages", "conversations": "messages",
    "conversation_clocks": "messages", "conversation_labels": "messages", "conversation_triage": "messages",
    "telegram_topics": "messages", "slack_threads": "messages",
    "attachments": "attachments", "outbox": "outbox",
    "work_orders": "work_orders", "work_order_events": "work_orders", "csat_responses": "work_orders",
    "rights_requests": "rights_requests", "rights_request_events": "rights_requests",
    "audit_events": AUDIT,
    "customers": KEPT_WITH_ACCOUNT,
    "channel_identities": KEPT_WITH_ACCOUNT,
    "consents": "kept while the account lives: the record of what the customer agreed to, per policy version",
    "app_authorizations": "kept while the account lives: the customer's current choice per third-party app",
    "broadcast_recipients": "kept while the account lives: the proof that each customer was told each notice once",
    "telegram_chats": "kept while the account lives: the organization a Telegram chat chose",
    "slack_dm_threads": "kept while the account lives: the Slack thread a customer's direct messages continue",
    "verification_challenges": KEPT_WITH_ACCOUNT + "; codes are stored only as keyed hashes and expire in minutes",
    "verification_locks": KEPT_WITH_ACCOUNT + "; a lock ends by itself after verification.lock_minutes",
    "notification_events": KEPT_WITH_ACCOUNT + "; staff notices about the customer",
    "notification_pushes": KEPT_WITH_ACCOUNT + "; deliveries of those staff notices",
}
