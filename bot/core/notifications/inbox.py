"""The workbench's notification list and each admin's preferences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput
from bot.core.delivery.models import OutboxItem
from bot.core.notifications.fanout import TARGET_KINDS, NotificationKind, _parse_hhmm
from bot.core.notifications.models import NotificationEvent, NotificationPreference, NotificationPush
from bot.core.orgs.models import Agent


@dataclass(frozen=True)
class Delivery:
    target_kind: str
    address: str
    state: str  # queued/sending/sent/failed (from the outbox), held, digested, delivered
    error: str


@dataclass(frozen=True)
class Entry:
    push_id: int
    event: NotificationEvent
    read: bool
    deliveries: list[Delivery]


async def list_for_agent(*, session: AsyncSession, agent: Agent, before_id: int | None = None, limit: int = 50) -> list[Entry]:
    """The agent's notifications, newest first, each with the delivery state of every push of its event."""
    query = (
        select(NotificationPush, NotificationEvent)
        .join(NotificationEvent, NotificationEvent.id == NotificationPush.event_id)
        .where(
            NotificationPush.agent_id == agent.id,
            NotificationPush.target_kind == "workbench",
            # A platform admin's pushes are about the organizations it reviews; an agent's, its own.
            true() if agent.org_id is None else NotificationPush.org_id == agent.org_id,
        )
        .order_by(NotificationPush.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(NotificationPush.id < before_id)
    rows = (await session.execute(query)).all()
    event_ids = [event.id for _, event in rows]
    others = (
        await session.execute(
            select(NotificationPush, OutboxItem.state, OutboxItem.last_error)
            .outerjoin(OutboxItem, OutboxItem.id == NotificationPush.outbox_id)
            .where(
                NotificationPush.event_id.in_(event_ids),
                NotificationPush.target_kind != "workbench",
                (NotificationPush.agent_id == agent.id) | NotificationPush.agent_id.is_(None),
            )
            .order_by(NotificationPush.id)
        )
    ).all()
    by_event: dict[int, list[Delivery]] = {}
    for push, outbox_state, error in others:
        state = outbox_state if push.state == "queued" and outbox_state else push.state
        by_event.setdefault(push.event_id, []).append(Delivery(push.target_kind, push.address, state, error or ""))
    return [Entry(push.id, event, push.read_at is not None, by_event.get(event.id, [])) for push, event in rows]


async def unread_count(*, session: AsyncSession, agent: Agent) -> int:
    rows = await session.scalars(
        select(NotificationPush.id)
        .where(
            NotificationPush.agent_id == agent.id, NotificationPush.target_kind == "workbench", NotificationPush.read_at.is_(None)
        )
        .limit(100)
    )
    return len(rows.all())


async def mark_all_read(*, session: AsyncSession, agent: Agent) -> None:
    await session.execute(
        update(NotificationPush)
        .where(
            NotificationPush.agent_id == agent.id, NotificationPush.target_kind == "workbench", NotificationPush.read_at.is_(None)
        )
        .values(read_at=now(), state="read")
    )


async def get_preferences(*, session: AsyncSession, agent: Agent) -> NotificationPreference:
    pref = await session.scalar(select(NotificationPreference).where(NotificationPreference.agent_id == agent.id))
    return pref or NotificationPreference(
        org_id=agent.org_id, agent_id=agent.id, kinds=[], targets=[], quiet_start="", quiet_end="", digest=True, locale="en"
    )


async def save_preferences(
    *,
    session: AsyncSession,
    agent: Agent,
    kinds: list[str],
    targets: list[str],
    quiet_start: str,
    quiet_end: str,
    digest: bool,
    locale: str,
) -> NotificationPreference:
    if agent.org_id is None:
        raise InvalidInput("platform admins receive every platform event in the workbench list; preferences are per organization")
    known = {k.value for k in NotificationKind}
    if any(k not in known for k in kinds) or any(t not in TARGET_KINDS for t in targets):
        raise InvalidInput("unknown event kind or target")
    for value in (quiet_start, quiet_end):
        if value and _parse_hhmm(value) is None:
            raise InvalidInput("quiet hours: HH:MM")
    if bool(quiet_start) != bool(quiet_end):
        raise InvalidInput("quiet hours need a start and an end")
    pref = await session.scalar(select(NotificationPreference).where(NotificationPreference.agent_id == agent.id))
    if pref is None:
        pref = NotificationPreference(org_id=agent.org_id, agent_id=agent.id)
        session.add(pref)
    pref.kinds = sorted(set(kinds)) if set(kinds) != known else []
    pref.targets = sorted(set(targets)) if set(targets) != set(TARGET_KINDS) else []
    pref.quiet_start, pref.quiet_end = quiet_start, quiet_end
    pref.digest = digest
    pref.locale = locale if locale in ("en", "zh") else "en"
    pref.updated_at = now()
    await session.flush()
    return pref


def since(value: datetime) -> str:
    return value.isoformat(timespec="seconds") + "Z"
