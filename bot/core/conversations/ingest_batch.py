"""What one ingest batch reads and hands back: the rows it preloads (one query per organization and channel),
the chats it created, and each event's result.

On PostgreSQL the preload takes its lists as arrays (`= ANY(:external_ids)`, the batch's (chat, platform message
id) pairs as `unnest`): one statement text whatever the batch's size, so asyncpg prepares it once per connection
and PostgreSQL plans it once (a generic plan), and each pair is one probe of the messages' unique index. With
an expanding IN list every batch size was a statement of its own (parsed, prepared and custom-planned again),
and `platform_message_id IN (...)` matched per chat, so PostgreSQL read every message of each of the batch's
chats (a batch's preload took 2-9 ms of PostgreSQL's CPU at 100-200 messages a chat, and grew with them).
SQLite keeps the IN lists (it probes its unique index with them, and has no arrays)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ARRAY, String, and_, any_, bindparam, func, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.conversations.customers import keep_batch_consents
from bot.core.conversations.events import InboundEvent
from bot.core.conversations.ingest_writes import FirstContact, row_json
from bot.core.conversations.models import ChannelIdentity, Consent, Conversation, Customer, Message
from bot.core.conversations.serialize import message_json
from bot.core.conversations.threads import OPEN_STATES
from bot.core.orgs.models import Organization
from bot.core.storage.batch import PreloadedFact, preloaded_facts


@dataclass
class IngestResult:
    message: dict[str, Any]
    conversation_id: int
    customer_id: int
    identity_id: int
    replies: list[dict[str, Any]] = field(default_factory=list)
    duplicate: bool = False
    new_conversation: bool = False
    origin: str | None = None  # the web chat tab (or other source) that sent it, so it is not echoed back
    locale: str | None = None  # the customer's language after the flows (a channel's own answer speaks it)



Key = tuple[int, str, str]  # (org_id, channel, external_id): one chat
Item = tuple[InboundEvent, "asyncio.Future[IngestResult]"]


def chat_of(item: Item) -> Key:
    event = item[0]
    return (event.org_id, event.channel, event.external_id)


@dataclass
class InFlight:
    """A batch the writer has handed on (PostgreSQL): once `flushed`, its rows are written and it only waits for
    the batch before it, commits and acknowledges, so the next batch may be read and handled meanwhile — on other
    chats and customers only. A batch whose write committed itself sets `flushed` only when it is done."""

    chats: set[Key]
    customers: set[int] = field(default_factory=set)  # filled before `flushed` is set
    flushed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def finished(self) -> None:
        if self.task is not None:
            await asyncio.wait([self.task])  # its own errors are its own (logged there)


def next_batch(waiting: list[Item], previous: InFlight | None, limit: int) -> tuple[list[Item], list[Item]]:
    """(batch, still waiting): in arrival order, up to `limit`, leaving behind the events of the chats the batch in
    flight holds (a chat's messages are written and acknowledged in order)."""
    if previous is None or (previous.task is not None and previous.task.done()):
        return waiting[:limit], waiting[limit:]
    batch: list[Item] = []
    held: list[Item] = []
    for item in waiting:
        (batch if len(batch) < limit and chat_of(item) not in previous.chats else held).append(item)
    return batch, held


@dataclass
class Pending:
    """One event handled but not yet written: its rows get their ids from the batch's Core INSERT."""

    identity: ChannelIdentity
    customer: Customer
    message: dict[str, Any] | None = None  # the messages row (ingest_writes.message_row)
    conversation: Conversation | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)
    new_conversation: bool = False
    duplicate: Message | dict[str, Any] | None = None  # stored earlier, or earlier in this batch

    def result(self) -> IngestResult:
        if self.duplicate is not None or self.message is None or self.conversation is None:
            existing = self.duplicate
            assert existing is not None
            payload = row_json(existing) if isinstance(existing, dict) else message_json(existing)
            return IngestResult(
                message=payload,
                conversation_id=int(payload["conversation_id"]),
                customer_id=self.customer.id,
                identity_id=self.identity.id,
                duplicate=True,
                locale=self.customer.locale,
            )
        payload = row_json(self.message)
        payload["org_id"] = self.message["org_id"]
        return IngestResult(
            message=payload,
            conversation_id=self.conversation.id,
            customer_id=self.identity.customer_id,  # a flow may have linked the identity to another customer
            identity_id=self.identity.id,
            replies=[row_json(row) for row in self.replies],
            new_conversation=self.new_conversation,
            locale=self.customer.locale,
        )


# Built once per set of preloaded facts: SQLAlchemy memoizes a statement's cache key on the object, so a statement
# rebuilt for every batch (with its IN lists as literals) paid for construction and cache-key generation each time.
# Besides the chats, each row carries its customer's latest basic consent and number of answers (policy_gate and
# greeting ask on every message) and the facts other packages register (storage/batch.py): no query of their own.
_BASIC = and_(Consent.customer_id == Customer.id, Consent.purpose == "basic")
_LATEST_BASIC = select(func.max(Consent.id)).where(_BASIC).correlate(Customer).scalar_subquery()
_BASIC_ANSWERS = select(func.count()).select_from(Consent).where(_BASIC).correlate(Customer).scalar_subquery()
_STATEMENTS: dict[tuple[tuple[str, ...], bool], tuple[Any, Any]] = {}
_ORGS = select(Organization).where(Organization.id.in_(bindparam("ids", expanding=True)))
_TEXTS = ARRAY(String)


def _statements(facts: tuple[PreloadedFact, ...], arrays: bool) -> tuple[Any, Any]:
    """(without, with) the batch's platform message ids: messages are joined only when the batch has some, as an
    always-false join condition makes SQLite scan them. `arrays` (PostgreSQL): lists bound as arrays, and the
    messages matched by (external id, platform id) pair."""
    key = (tuple(fact.name for fact in facts), arrays)
    made = _STATEMENTS.get(key)
    if made is None:
        external_ids = (
            ChannelIdentity.external_id == any_(bindparam("external_ids", type_=_TEXTS)) if arrays
            else ChannelIdentity.external_id.in_(bindparam("external_ids", expanding=True))
        )
        base = (
            select(ChannelIdentity, Organization, Customer, Conversation, Consent, _BASIC_ANSWERS,
                   *(fact.column(Customer.id) for fact in facts))
            .join(Organization, Organization.id == ChannelIdentity.org_id)
            .join(Customer, Customer.id == ChannelIdentity.customer_id)
            .outerjoin(Conversation, and_(Conversation.identity_id == ChannelIdentity.id, Conversation.status.in_(OPEN_STATES)))
            .outerjoin(Consent, Consent.id == _LATEST_BASIC)
            .where(ChannelIdentity.org_id == bindparam("org_id"), ChannelIdentity.channel == bindparam("channel"), external_ids)
            .order_by(Conversation.id)
        )
        if arrays:
            pairs = (
                func.unnest(bindparam("seen_external_ids", type_=_TEXTS), bindparam("seen_platform_ids", type_=_TEXTS))
                .table_valued("external_id", "platform_id").render_derived(name="seen")
            )
            # A correlated probe, not a join: both columns of the unique index are then the subquery's parameters,
            # whatever the statistics. As a join, a generic plan made while `messages` was small (a new database,
            # asyncpg's prepared statement) matched the index on platform_message_id alone and filtered the identity
            # afterwards, so each probe read the whole index: 1.6 -> 11 ms a batch within 20,000 messages.
            stored = (
                select(Message.platform_message_id)
                .where(Message.identity_id == ChannelIdentity.id, Message.platform_message_id == pairs.c.platform_id)
                .correlate_except(Message)
                .scalar_subquery()
            )
            with_seen = base.add_columns(stored).outerjoin(pairs, pairs.c.external_id == ChannelIdentity.external_id)
        else:
            platform_ids = Message.platform_message_id.in_(bindparam("platform_ids", expanding=True))
            with_seen = base.add_columns(Message.platform_message_id).outerjoin(
                Message, and_(Message.identity_id == ChannelIdentity.id, platform_ids)
            )
        made = _STATEMENTS[key] = (base.add_columns(null()), with_seen)
    return made


@dataclass
class Preloaded:
    """What a batch needs, fetched with one query per table instead of several per event."""

    identities: dict[tuple[int, str, str], ChannelIdentity]
    customers: dict[int, Customer]
    conversations: dict[int, Conversation]
    orgs: dict[int, Organization]
    platform_ids: set[tuple[int, str]] = field(default_factory=set)
    batch_rows: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)  # this batch's inbound rows
    created: set[tuple[int, str, str]] = field(default_factory=set)  # first contact: not yet seen by an event
    consents: dict[int, Consent] = field(default_factory=dict)  # customer id -> latest basic consent, if any
    answers: dict[int, int] = field(default_factory=dict)  # customer id -> number of basic consent answers
    facts: dict[str, dict[int, Any]] = field(default_factory=dict)  # fact name -> customer id -> value read

    def keep_facts(self, session: AsyncSession) -> None:
        """After begin_batch: the facts read with the preload, for all the batch's customers (new ones have none)."""
        customers = frozenset(self.customers)
        keep_batch_consents(session, customers, dict(self.consents), dict(self.answers))
        for fact in preloaded_facts():
            values = self.facts.get(fact.name)
            if values is not None:  # registered after this batch's preload: asked the usual way
                fact.keep(session, customers, values)

    def first_contact(self, made: FirstContact) -> None:
        """Take in the chats created for this batch; the first event of each is its new customer's first."""
        self.identities.update(made.identities)
        self.customers.update({c.id: c for c in made.customers.values()})
        self.conversations.update({made.identities[k].id: c for k, c in made.conversations.items()})
        self.created.update(made.identities)

    async def customer(self, session: AsyncSession, identity: ChannelIdentity) -> Customer:
        customer = self.customers.get(identity.customer_id)
        if customer is None:  # an earlier event of the batch linked this identity to another customer
            customer = await session.get(Customer, identity.customer_id)
            assert customer is not None  # FK guarantees it
            self.customers[customer.id] = customer
        return customer

    @classmethod
    async def load(cls, session: AsyncSession, events: list[InboundEvent]) -> Preloaded:
        """Everything a batch reads, in one indexed query per (organization, channel): each identity with its
        organization, customer, open conversation and any of the batch's platform message ids it already
        has (a retried update). SQLite would scan the table for a row-value IN, hence the grouping."""
        groups: dict[tuple[int, str], list[InboundEvent]] = {}
        for event in events:
            groups.setdefault((event.org_id, event.channel), []).append(event)
        known = cls(identities={}, customers={}, conversations={}, orgs={})
        facts = preloaded_facts()
        arrays = session.get_bind().dialect.name == "postgresql"
        without_seen, with_seen = _statements(facts, arrays)
        known.facts = {fact.name: {} for fact in facts}
        for (org_id, channel), group in groups.items():
            params: dict[str, Any] = {"org_id": org_id, "channel": channel, "external_ids": sorted({e.external_id for e in group})}
            pairs = sorted({(e.external_id, e.platform_message_id) for e in group if e.platform_message_id})
            platform_ids = sorted({platform_id for _, platform_id in pairs})
            if arrays and pairs:
                params["seen_external_ids"], params["seen_platform_ids"] = [e for e, _ in pairs], [p for _, p in pairs]
            elif platform_ids:
                params["platform_ids"] = platform_ids
            rows: Any = await session.execute(with_seen if platform_ids else without_seen, params)
            for identity, org, customer, conversation, consent, answers, *values, platform_id in rows:
                known.identities[(identity.org_id, identity.channel, identity.external_id)] = identity
                known.orgs[org.id] = org
                known.customers[customer.id] = customer
                known.answers[customer.id] = int(answers)
                if consent is not None:
                    known.consents[customer.id] = consent
                for fact, value in zip(facts, values, strict=True):
                    known.facts[fact.name][customer.id] = value
                if conversation is not None:
                    known.conversations[identity.id] = conversation  # ordered by id: the newest open one wins
                if platform_id is not None:
                    known.platform_ids.add((identity.id, platform_id))
        missing = {e.org_id for e in events} - known.orgs.keys()  # first contact: no identity row yet
        if missing:
            known.orgs.update({o.id: o for o in await session.scalars(_ORGS, {"ids": sorted(missing)})})
        return known


