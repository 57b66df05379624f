"""Broadcasts: one notice to every reachable customer of an organization (major policy change, security
incident, transfer, cessation), sent to each customer's most recent channel identity with no open
conversation needed.

Guarantees: creating is idempotent per form (`client_key`) and starting twice is one broadcast; the
fan-out runs in batches (`broadcasts.batch_size` customers per transaction, so the writer is never held
long), each batch two INSERT ... SELECT statements (no row passes through Python) moving `cursor` in the
same transaction as its rows, so a restart resumes exactly where it stopped; the unique (broadcast,
customer) row and the outbox idempotency key make each customer told once; delivery and per-channel rate limits are the outbox's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.core.common.clock import now
from bot.core.common.errors import Conflict, InvalidInput, NotFound
from bot.core.conversations.models import ChannelIdentity, Customer
from bot.core.delivery.models import OutboxItem
from bot.core.notices.models import Broadcast, BroadcastRecipient
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent
from bot.core.storage.db import SessionFactory, transaction

KINDS = ("policy", "incident", "transfer", "cessation")
STATES = ("draft", "running", "done")
# Core inserts: a batch of plain rows skips the ORM's per-row bookkeeping.
OUTBOX: Table = OutboxItem.__table__  # type: ignore[assignment]
RECIPIENTS: Table = BroadcastRecipient.__table__  # type: ignore[assignment]


async def create(*, session: AsyncSession, org_id: int, actor: Agent | None, kind: str, title: str, body: str,
                 client_key: str, policy_version: str = "") -> Broadcast:
    """A draft; the same client_key again returns the first one (a double-submitted form is one broadcast)."""
    if kind not in KINDS:
        raise InvalidInput("kind: one of %(choices)s", choices=", ".join(KINDS))
    title, body = title.strip(), body.strip()
    if not title or len(title) > 200:
        raise InvalidInput("title: 1 to 200 characters")
    if not body or len(body) > 3500:
        raise InvalidInput("text: 1 to 3500 characters")
    if not client_key or len(client_key) > 64:
        raise InvalidInput("form: reload the page")
    existing = await session.scalar(select(Broadcast).where(Broadcast.org_id == org_id, Broadcast.client_key == client_key))
    if existing is not None:
        return existing
    row = Broadcast(org_id=org_id, kind=kind, title=title, body=body, client_key=client_key, policy_version=policy_version,
                    created_by=actor.id if actor else None)
    session.add(row)
    await session.flush()
    await record(session=session, org_id=org_id, actor_type="agent" if actor else "platform", actor_id=actor.id if actor else None,
                 action="broadcast_created", subject_type="broadcast", subject_id=row.id, detail={"kind": kind})
    return row


async def get(*, session: AsyncSession, org_id: int, broadcast_id: int) -> Broadcast:
    row = await session.get(Broadcast, broadcast_id)
    if row is None or row.org_id != org_id:
        raise NotFound("no such broadcast")
    return row


async def start(*, session: AsyncSession, org_id: int, broadcast_id: int, actor: Agent | None) -> Broadcast:
    """draft -> running, by a conditional update: of two simultaneous starts exactly one wins."""
    row = await get(session=session, org_id=org_id, broadcast_id=broadcast_id)
    result = await session.execute(
        update(Broadcast).where(Broadcast.id == row.id, Broadcast.state == "draft").values(state="running", started_at=now())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this broadcast was already started")
    await session.refresh(row)
    await record(session=session, org_id=org_id, actor_type="agent" if actor else "platform", actor_id=actor.id if actor else None,
                 action="broadcast_started", subject_type="broadcast", subject_id=row.id)
    return row


# The consent buttons of templates/bot/<locale>/button_agree.txt and button_decline.txt (the core reads no flow texts).
CONSENT_LABELS = {"en": ("I agree", "No, thanks"), "zh": ("我同意", "不同意")}


def payload_for(broadcast: Broadcast, customer_id: int, key: str, locale: str = "en") -> dict[str, object]:
    text = f"{broadcast.title}\n\n{broadcast.body}"
    buttons: list[list[str]] = []
    if broadcast.kind == "policy":
        agree, decline = CONSENT_LABELS.get(locale, CONSENT_LABELS["en"])
        # Tagged with the version they answer: they act until the customer has answered that version (bot/flows/greeting.py).
        version = broadcast.policy_version
        buttons = [[agree, f"consent:yes:v={version}"], [decline, f"consent:no:v={version}"]]
    return {"text": text, "kind": "notice", "buttons": buttons, "customer_id": customer_id, "author": "bot",
            "broadcast_id": broadcast.id, "dedup_key": key, "data": {"broadcast": broadcast.kind}}


async def fan_out_batch(*, session: AsyncSession, broadcast: Broadcast, batch_size: int) -> int:
    """Queue the next batch of customers; returns how many were queued (0: the broadcast is done).

    Two INSERT ... SELECT statements, so no row passes through Python: the outbox rows (payload built by the
    database's JSON functions, equal to `payload_for`), then the recipient rows joined to them by idempotency key.
    """
    org_id = broadcast.org_id
    batch = (select(Customer.id).where(Customer.org_id == org_id, Customer.id > broadcast.cursor, Customer.status == "active")
             .order_by(Customer.id).limit(batch_size).subquery())
    upper = await session.scalar(select(func.max(batch.c.id)))
    if upper is None:
        broadcast.state, broadcast.finished_at = "done", now()
        await record(session=session, org_id=org_id, actor_type="platform", actor_id=None, action="broadcast_done",
                     subject_type="broadcast", subject_id=broadcast.id, detail={"recipients": broadcast.total})
        return 0
    # The customer's most recently seen reachable identity: one probe of the customer_id index per customer. No
    # org_id test here (a customer's identities are its organization's): with one, SQLite scans the org's index.
    other = aliased(ChannelIdentity)
    chosen = (select(other.id).where(other.customer_id == Customer.id, other.reachable.is_(True))
              .order_by(other.last_seen_at.desc(), other.id.desc()).limit(1).correlate(Customer).scalar_subquery())
    key = literal(f"broadcast:{broadcast.id}:", String) + cast(Customer.id, String)
    in_batch = (Customer.org_id == org_id, Customer.id > broadcast.cursor, Customer.id <= upper, Customer.status == "active")
    stamp = now()
    dialect = session.get_bind().dialect.name
    # No look-up of earlier recipients: the cursor moves in the same transaction as the rows, so a batch is
    # either all written (and skipped next time) or not at all; the unique (broadcast, customer) pair backs it up.
    await session.execute(insert(OUTBOX).from_select(
        ["org_id", "channel", "target", "idempotency_key", "payload", "state", "attempts", "next_attempt_at", "last_error",
         "created_at", "sends"],
        select(literal(org_id, Integer), ChannelIdentity.channel, ChannelIdentity.external_id, key,
               _payload_sql(dialect, broadcast, key), literal("pending", String), literal(0, Integer),
               literal(stamp, DateTime), literal("", String), literal(stamp, DateTime), literal(0, Integer))
        .select_from(Customer).join(ChannelIdentity, ChannelIdentity.id == chosen).where(*in_batch)))
    result = await session.execute(insert(RECIPIENTS).from_select(
        ["org_id", "broadcast_id", "customer_id", "identity_id", "channel", "outbox_id"],
        select(literal(org_id, Integer), literal(broadcast.id, Integer), Customer.id, ChannelIdentity.id,
               ChannelIdentity.channel, OutboxItem.id)
        .select_from(Customer).join(ChannelIdentity, ChannelIdentity.id == chosen)
        .join(OutboxItem, OutboxItem.idempotency_key == key).where(*in_batch)))
    queued = int(result.rowcount)  # type: ignore[attr-defined]
    broadcast.cursor = upper
    broadcast.total += queued
    return queued


def _payload_sql(dialect: str, broadcast: Broadcast, key: ColumnElement[str]) -> ColumnElement[object]:
    """`payload_for(broadcast, customer.id, key, customer.locale)`, built by the database (SQLite json_object,
    PostgreSQL json_build_object); a customer whose locale has no consent labels gets the English ones."""
    def as_json(value: object) -> ColumnElement[object]:
        text = literal(json.dumps(value, ensure_ascii=False), Text)
        return func.json(text) if dialect == "sqlite" else cast(text, JSON)

    sample = payload_for(broadcast, 0, "", "en")
    buttons: ColumnElement[object] = as_json(sample["buttons"])
    if broadcast.kind == "policy":
        buttons = case(*((Customer.locale == locale, as_json(payload_for(broadcast, 0, "", locale)["buttons"]))
                         for locale in CONSENT_LABELS if locale != "en"), else_=buttons)
    values: dict[str, Any] = {
        "text": cast(literal(sample["text"], Text), Text), "kind": cast(literal("notice", String), String), "buttons": buttons,
        "customer_id": Customer.id, "author": cast(literal("bot", String), String),
        "broadcast_id": cast(literal(broadcast.id, Integer), Integer), "dedup_key": key, "data": as_json(sample["data"]),
    }
    assert set(values) == set(sample), "the SQL payload and payload_for() must carry the same fields"
    parts: list[Any] = []
    for name, value in values.items():
        parts += [literal_column(f"'{name}'"), value]  # the names are the constants above, never input
    return (func.json_object if dialect == "sqlite" else func.json_build_object)(*parts)


async def run_pending(*, factory: SessionFactory, batch_size: int, max_batches: int = 1_000_000) -> int:
    """Fan out every running broadcast, one batch per transaction; safe to run in several places at once
    only because each batch is one transaction under the writer's turn (SQLite) or row lock (PostgreSQL)."""
    queued = 0
    async with factory() as session:  # read first: an idle sweep never takes the writer's turn
        if not await session.scalar(select(Broadcast.id).where(Broadcast.state == "running").limit(1)):
            return 0
    for _ in range(max_batches):
        async with transaction(factory) as session:
            broadcast = await session.scalar(
                select(Broadcast).where(Broadcast.state == "running").order_by(Broadcast.id).limit(1).with_for_update())
            if broadcast is None:
                return queued
            queued += await fan_out_batch(session=session, broadcast=broadcast, batch_size=batch_size)
    return queued


@dataclass(frozen=True)
class Progress:
    recipients: int
    by_state: dict[str, int]


async def progress(*, session: AsyncSession, broadcast: Broadcast) -> Progress:
    rows = await session.execute(
        select(OutboxItem.state, func.count()).join(BroadcastRecipient, BroadcastRecipient.outbox_id == OutboxItem.id)
        .where(BroadcastRecipient.broadcast_id == broadcast.id).group_by(OutboxItem.state))
    by_state = {state: int(count) for state, count in rows}
    return Progress(recipients=sum(by_state.values()), by_state=by_state)


async def list_broadcasts(*, session: AsyncSession, org_id: int) -> list[Broadcast]:
    return list(await session.scalars(select(Broadcast).where(Broadcast.org_id == org_id).order_by(Broadcast.id.desc()).limit(100)))
