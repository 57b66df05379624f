"""Conversations and their messages: the inbox, the thread, agent replies and notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput, NotFound
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer, Message
from bot.core.orgs.models import Agent

OPEN_STATES = ("open", "pending")
STATUSES = (*OPEN_STATES, "resolved")  # what an agent may set; the inbox and search filter by them
REOPEN_WINDOW = timedelta(days=7)
PREVIEW_LEN = 140


def preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_LEN else flat[: PREVIEW_LEN - 1] + "…"


async def open_conversation_for(
    *, session: AsyncSession, identity: ChannelIdentity
) -> tuple[Conversation, bool]:
    """The identity's current conversation, or a new one. Returns (conversation, created).

    A conversation resolved less than REOPEN_WINDOW ago is reopened when the customer writes again (the
    agent keeps the context); an older one stays closed and a new conversation starts."""
    conversation = await session.scalar(
        select(Conversation).where(Conversation.identity_id == identity.id).order_by(Conversation.id.desc()).limit(1)
    )
    if conversation is not None:
        if conversation.status in OPEN_STATES:
            return conversation, False
        if conversation.resolved_at is not None and conversation.resolved_at > now() - REOPEN_WINDOW:
            conversation.status = "open"
            conversation.resolved_at = None
            return conversation, False
    conversation = Conversation(
        org_id=identity.org_id, customer_id=identity.customer_id, identity_id=identity.id, channel=identity.channel
    )
    session.add(conversation)
    await session.flush()
    return conversation, True


async def get_conversation(*, session: AsyncSession, org_id: int, conversation_id: int) -> Conversation:
    """Tenant-checked: another organization's id is indistinguishable from a missing one."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.org_id != org_id:
        raise NotFound("no such conversation")
    return conversation


@dataclass(frozen=True)
class InboxRow:
    conversation_id: int
    customer_id: int
    customer_name: str
    channel: str
    status: str
    unread: int
    waiting_since: datetime | None
    preview: str
    assignee_id: int | None
    last_activity_at: datetime


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    next_cursor: str | None


def inbox_rows_query(org_id: int) -> Select[Conversation, str]:
    """The inbox's rows of one organization (a conversation with its customer's name): the page and the live
    inbox's single row read the same query."""
    return (
        select(Conversation, Customer.name)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(Conversation.org_id == org_id)
    )


def inbox_row(conv: Conversation, name: str | None) -> InboxRow:
    return InboxRow(
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        customer_name=name or f"Visitor #{conv.customer_id}",
        channel=conv.channel,
        status=conv.status,
        unread=conv.unread_count,
        waiting_since=conv.waiting_since,
        preview=conv.last_message_preview,
        assignee_id=conv.assignee_id,
        last_activity_at=conv.last_activity_at,
    )


def _parse_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        stamp, _, ident = cursor.partition("_")
        return datetime.fromisoformat(stamp), int(ident)
    except ValueError:
        raise InvalidInput("bad cursor") from None


async def list_inbox(
    *,
    session: AsyncSession,
    org_id: int,
    status: str = "open",
    assignee_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> InboxPage:
    """Keyset-paginated, newest activity first; one indexed range scan per page."""
    query = inbox_rows_query(org_id).where(Conversation.status == status)
    if assignee_id is not None:
        query = query.where(Conversation.assignee_id == assignee_id)
    after = _parse_cursor(cursor)
    if after is not None:
        stamp, ident = after
        query = query.where(
            or_(
                Conversation.last_activity_at < stamp,
                and_(Conversation.last_activity_at == stamp, Conversation.id < ident),
            )
        )
    query = query.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(limit + 1)
    result = (await session.execute(query)).all()
    rows = [inbox_row(conv, name) for conv, name in result[:limit]]
    next_cursor = None
    if len(result) > limit:
        last = rows[-1]
        next_cursor = f"{last.last_activity_at.isoformat()}_{last.conversation_id}"
    return InboxPage(rows=rows, next_cursor=next_cursor)


async def list_messages(
    *, session: AsyncSession, org_id: int, conversation_id: int, before_id: int | None = None, limit: int = 200
) -> list[Message]:
    """The latest `limit` messages of a conversation, oldest first."""
    query = select(Message).where(Message.org_id == org_id, Message.conversation_id == conversation_id)
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = (await session.scalars(query.order_by(Message.id.desc()).limit(limit))).all()
    return list(reversed(rows))


async def customer_history(*, session: AsyncSession, org_id: int, customer_id: int, limit: int = 200) -> list[Message]:
    """What the customer sees: every message of every conversation of theirs, without internal notes."""
    conv_ids = select(Conversation.id).where(Conversation.org_id == org_id, Conversation.customer_id == customer_id)
    rows = (
        await session.scalars(
            select(Message)
            .where(Message.conversation_id.in_(conv_ids), Message.direction != "note")
            .order_by(Message.id.desc())
            .limit(limit)
        )
    ).all()
    return list(reversed(rows))


def touch_inbound(conversation: Conversation, text: str) -> None:
    stamp = now()
    conversation.last_activity_at = stamp
    conversation.unread_count += 1
    conversation.last_message_preview = preview(text)
    if conversation.waiting_since is None:
        conversation.waiting_since = stamp
    if conversation.status == "resolved":
        conversation.status = "open"
        conversation.resolved_at = None


async def add_note(*, session: AsyncSession, conversation: Conversation, agent: Agent, text: str) -> Message:
    text = text.strip()
    if not text:
        raise InvalidInput("a note needs text")
    note = Message(
        org_id=conversation.org_id,
        conversation_id=conversation.id,
        direction="note",
        author_type="agent",
        author_agent_id=agent.id,
        text=text,
        delivery_state="internal",
    )
    session.add(note)
    await session.flush()
    return note


async def assign(*, session: AsyncSession, conversation: Conversation, assignee_id: int | None) -> None:
    if assignee_id is not None:
        agent = await session.get(Agent, assignee_id)
        if agent is None or agent.org_id != conversation.org_id:
            raise NotFound("no such agent")
    conversation.assignee_id = assignee_id


async def set_status(*, session: AsyncSession, conversation: Conversation, status: str) -> None:
    if status not in STATUSES:
        raise InvalidInput("status: open, pending or resolved")
    conversation.status = status
    conversation.resolved_at = now() if status == "resolved" else None
    if status == "resolved":
        conversation.waiting_since = None


async def mark_read(*, session: AsyncSession, conversation: Conversation) -> None:
    if conversation.unread_count:
        await session.execute(update(Conversation).where(Conversation.id == conversation.id).values(unread_count=0))
        conversation.unread_count = 0


async def customer_can_see(*, session: AsyncSession, attachment_id: int, customer_id: int) -> bool:
    """A customer may fetch a file only if it belongs to a message of their own conversations (not a note)."""
    query = (
        select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.attachment_id == attachment_id, Message.direction != "note", Conversation.customer_id == customer_id)
        .limit(1)
    )
    return bool(await session.scalar(query))

