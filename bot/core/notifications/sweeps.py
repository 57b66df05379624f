"""Idempotent sweeps that raise notification events from the database, the daily digest, and wiring.

Each sweep reads the data (waiting_since, failed outbox rows) and raises events with dedup keys
derived from that data, so running twice, on two processes or after a restart, pushes once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.conversations.models import Conversation
from bot.core.delivery.models import OutboxItem
from bot.core.delivery.outbox import enqueue
from bot.core.notifications.fanout import (
    PUSH_CHANNELS,
    NotificationKind,
    idempotency_key,
    preferences_for,
    raise_event,
    render_push,
)
from bot.core.notifications.models import NotificationEvent, NotificationPreference, NotificationPush, NotificationTarget
from bot.core.orgs.models import Agent
from bot.core.storage.db import SessionFactory, transaction

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)
BATCH = 500


async def sweep_waiting(*, factory: SessionFactory, settings: Settings) -> int:
    """Raise conversation_waiting once per waiting episode (the key includes waiting_since)."""
    cutoff = now() - timedelta(minutes=settings.notifications.waiting_minutes)
    raised, after = 0, 0
    while True:
        async with transaction(factory) as session:
            already = select(NotificationEvent.id).where(
                NotificationEvent.kind == NotificationKind.CONVERSATION_WAITING.value,
                NotificationEvent.subject_id == Conversation.id,
                NotificationEvent.created_at >= Conversation.waiting_since,
            )
            rows = (
                await session.scalars(
                    select(Conversation)
                    .where(
                        Conversation.id > after,
                        Conversation.status.in_(("open", "pending")),
                        Conversation.waiting_since.is_not(None),
                        Conversation.waiting_since <= cutoff,
                        ~already.exists(),
                    )
                    .order_by(Conversation.id)
                    .limit(BATCH)
                )
            ).all()
            for conv in rows:
                assert conv.waiting_since is not None
                minutes = int((now() - conv.waiting_since).total_seconds() // 60)
                _, created = await raise_event(
                    session=session,
                    org_id=conv.org_id,
                    kind=NotificationKind.CONVERSATION_WAITING,
                    subject_type="conversation",
                    subject_id=conv.id,
                    title=f"Conversation #{conv.id} has waited {minutes} minutes for a reply",
                    url=f"/workbench/conversations/{conv.id}",
                    dedup_key=f"conversation_waiting:{conv.id}:{conv.waiting_since.isoformat()}",
                    detail={"minutes": minutes, "channel": conv.channel},
                    settings=settings,
                )
                raised += int(created)
        if len(rows) < BATCH:
            return raised
        after = rows[-1].id


async def sweep_failing(*, factory: SessionFactory, settings: Settings) -> int:
    """Raise delivery_failing per organization and customer channel with failed items in the window."""
    window = settings.notifications.failing_window_minutes
    stamp = now()
    bucket = int(stamp.timestamp() // (window * 60))
    raised = 0
    async with transaction(factory) as session:
        rows = (
            await session.execute(
                select(OutboxItem.org_id, OutboxItem.channel, func.count())
                .where(
                    OutboxItem.state == "failed",
                    OutboxItem.created_at >= stamp - timedelta(minutes=window),
                    OutboxItem.org_id.is_not(None),
                    OutboxItem.channel.not_in(tuple(PUSH_CHANNELS.values())),
                )
                .group_by(OutboxItem.org_id, OutboxItem.channel)
            )
        ).all()
        for org_id, channel, count in rows:
            _, created = await raise_event(
                session=session,
                org_id=int(org_id or 0),
                kind=NotificationKind.DELIVERY_FAILING,
                subject_type="channel",
                subject_id=None,
                title=f"Delivery failing on {channel}: {count} messages failed in {window} minutes",
                url="/workbench/notifications",
                dedup_key=f"delivery_failing:{org_id}:{channel}:{bucket}",
                detail={"channel": channel, "failed": int(count), "window_minutes": window},
                settings=settings,
            )
            raised += int(created)
    return raised


async def send_digests(*, factory: SessionFactory, settings: Settings, day: datetime | None = None) -> int:
    """One digest per admin and target per day: the last 24 hours of their events, held ones included."""
    stamp = day or now()
    since = stamp - timedelta(days=1)
    sent = 0
    async with transaction(factory) as session:
        agents = (await session.scalars(select(Agent).where(Agent.active.is_(True)).order_by(Agent.id))).all()
        prefs = await preferences_for(session=session, agent_ids=[a.id for a in agents])
        for agent in agents:
            pref = prefs.get(agent.id)
            if pref is not None and not pref.digest:
                continue
            sent += await _digest_for(session, agent, pref, since, stamp, settings)
    return sent


async def _digest_for(
    session: AsyncSession, agent: Agent, pref: NotificationPreference | None, since: datetime, stamp: datetime, settings: Settings
) -> int:
    events = (
        await session.scalars(
            select(NotificationEvent)
            .join(
                NotificationPush,
                and_(
                    NotificationPush.event_id == NotificationEvent.id,
                    NotificationPush.agent_id == agent.id,
                    NotificationPush.target_kind == "workbench",
                ),
            )
            .where(NotificationEvent.created_at >= since, NotificationEvent.created_at < stamp)
            .order_by(NotificationEvent.id)
            .limit(200)
        )
    ).all()
    if not events:
        return 0
    locale = pref.locale if pref is not None else settings.locale
    base = settings.server.public_url.rstrip("/")
    text = render_push("digest", locale, events=events, base=base, day=stamp.date().isoformat())
    allowed = set(pref.targets) if pref is not None and pref.targets else set(PUSH_CHANNELS)
    targets = (
        await session.scalars(
            select(NotificationTarget).where(NotificationTarget.agent_id == agent.id, NotificationTarget.verified_at.is_not(None))
        )
    ).all()
    sent = 0
    for target in targets:
        if target.kind not in allowed or target.kind not in PUSH_CHANNELS:
            continue
        payload = {"subject": render_push("digest_subject", locale, day=stamp.date().isoformat()), "text": text}
        await enqueue(
            session=session,
            channel=PUSH_CHANNELS[target.kind],
            target=target.address,
            payload=payload,
            org_id=agent.org_id,
            idempotency_key=idempotency_key("digest", agent.id, stamp.date().isoformat(), target.kind, target.address),
        )
        sent += 1
    held = await session.scalars(
        select(NotificationPush).where(NotificationPush.agent_id == agent.id, NotificationPush.state == "held")
    )
    for push in held:
        push.state = "digested"
    return sent


def install(ctx: AppContext) -> None:
    """Register the sweeps. Called once from build_context (the push senders are the channels', wired by the app)."""
    settings = ctx.settings
    if not settings.notifications.enabled:
        return
    scheduler = ctx.services["scheduler"]
    every = settings.notifications.sweep_seconds

    async def waiting() -> None:
        if await sweep_waiting(factory=ctx.factory, settings=settings):
            ctx.dispatcher.wake()

    async def failing() -> None:
        if await sweep_failing(factory=ctx.factory, settings=settings):
            ctx.dispatcher.wake()

    async def digest() -> None:
        # Stamped with the scheduled time, so a run at start-up catching up a digest missed while the process was
        # down makes the same idempotency keys as the scheduled run: each digest goes out once.
        stamp = last_digest_time(settings.notifications.digest_time, now())
        if await send_digests(factory=ctx.factory, settings=settings, day=stamp):
            ctx.dispatcher.wake()

    scheduler.every("notifications.waiting", every, waiting)
    scheduler.every("notifications.failing", every, failing)
    scheduler.daily("notifications.digest", settings.notifications.digest_time, digest)
    ctx.on_start.append(scheduler.guarded("notifications.digest", digest))  # catch-up, under the same sweep lock


def last_digest_time(hhmm: str, at: datetime) -> datetime:
    """The latest scheduled digest time at or before `at` (UTC)."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    today = at.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return today if at >= today else today - timedelta(days=1)
