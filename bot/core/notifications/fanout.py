"""Admin notifications: a domain event becomes one push per target (Slack, Telegram, email, workbench list).

`raise_event` writes the event, its pushes and their outbox items in the caller's transaction, so a
restart between raising and delivering loses nothing, and raising the same fact again (same
dedup_key) sends nothing twice. Delivery and retries are the outbox's job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.exceptions import TemplateNotFound
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.delivery.outbox import enqueue
from bot.core.notifications.models import NotificationEvent, NotificationPreference, NotificationPush, NotificationTarget
from bot.core.orgs.models import Agent, Organization
from bot.core.orgs.permissions import Permission, roles_with
from bot.paths import TEMPLATES


class NotificationKind(StrEnum):
    """Every kind of push. Other features raise these; each has templates/notifications/<locale>/<kind>.txt."""

    CONVERSATION_WAITING = "conversation_waiting"
    WORK_ORDER_NEW = "work_order_new"
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"
    RIGHTS_REQUEST_RECEIVED = "rights_request_received"
    RIGHTS_REQUEST_DUE_SOON = "rights_request_due_soon"
    RIGHTS_REQUEST_OVERDUE = "rights_request_overdue"
    CERTIFICATION_SUBMITTED = "certification_submitted"
    IDENTITY_CHECK_FAILURES = "identity_check_failures"
    DELIVERY_FAILING = "delivery_failing"


# Kinds addressed to the platform level rather than to the organization the event is about.
PLATFORM_KINDS = frozenset({NotificationKind.CERTIFICATION_SUBMITTED.value})
TARGET_KINDS = ("workbench", "slack", "telegram", "email")
# Outbox channels of pushes: separate from the customer-facing ones, so a failing push never
# counts as a failing customer channel (which would raise a push about itself, forever).
PUSH_CHANNELS = {"slack": "slack-push", "telegram": "telegram-push", "email": "email-push"}
_DEFAULT_SETTINGS = Settings()


@lru_cache(maxsize=1)
def _env() -> Environment:
    # Plain text; each sender escapes for its own markup (Slack mrkdwn, email text).
    return Environment(loader=FileSystemLoader(TEMPLATES / "notifications"), autoescape=False, undefined=StrictUndefined)  # noqa: S701


def render_push(name: str, locale: str, **context: Any) -> str:
    locale = locale if locale in ("en", "zh") else "en"
    try:
        template = _env().get_template(f"{locale}/{name}.txt")
    except TemplateNotFound:
        template = _env().get_template(f"{locale}/default.txt")
    return template.render(**context).strip()


def push_payload(event: NotificationEvent, target_kind: str, locale: str, public_url: str) -> dict[str, Any]:
    link = public_url.rstrip("/") + event.url if event.url.startswith("/") else event.url
    text = render_push(event.kind, locale, event=event, title=event.title, link=link, detail=event.detail)
    if target_kind == "email":
        return {"subject": render_push("subject", locale, title=event.title), "text": text}
    return {"text": text, "title": event.title, "link": link, "event_id": event.id, "kind": event.kind}


def _parse_hhmm(value: str) -> time | None:
    try:
        hour, minute = (int(part) for part in value.split(":"))
        return time(hour, minute)
    except ValueError:
        return None


def in_quiet_hours(pref: NotificationPreference | None, stamp: datetime) -> bool:
    """Quiet hours may wrap midnight (22:00-07:00)."""
    if pref is None or not pref.quiet_start or not pref.quiet_end:
        return False
    start, end = _parse_hhmm(pref.quiet_start), _parse_hhmm(pref.quiet_end)
    if start is None or end is None or start == end:
        return False
    moment = stamp.time()
    return start <= moment < end if start < end else (moment >= start or moment < end)


def idempotency_key(prefix: str, *parts: object) -> str:
    """Outbox keys are at most 120 characters; long addresses are hashed."""
    raw = ":".join(str(p) for p in parts)
    if len(prefix) + len(raw) > 110:
        raw = hashlib.sha256(raw.encode()).hexdigest()[:40]
    return f"{prefix}:{raw}"


async def raise_event(
    *,
    session: AsyncSession,
    org_id: int,
    kind: NotificationKind | str,
    subject_type: str,
    subject_id: int | None,
    title: str,
    url: str,
    dedup_key: str,
    detail: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> tuple[NotificationEvent, bool]:
    """Record an event and queue its pushes. Returns (event, created); an existing dedup_key queues nothing."""
    kind = NotificationKind(kind)
    existing = await session.scalar(select(NotificationEvent).where(NotificationEvent.dedup_key == dedup_key))
    if existing is not None:
        return existing, False
    event = NotificationEvent(
        org_id=org_id,
        kind=kind.value,
        subject_type=subject_type,
        subject_id=subject_id,
        title=title[:300],
        url=url,
        dedup_key=dedup_key,
        detail=detail or {},
    )
    try:
        async with session.begin_nested():  # another process may raise the same fact at the same moment
            session.add(event)
            await session.flush()
    except IntegrityError:
        again = await session.scalar(select(NotificationEvent).where(NotificationEvent.dedup_key == dedup_key))
        assert again is not None
        return again, False
    await _fan_out(session, event, settings or _DEFAULT_SETTINGS, {})
    return event, True


@dataclass(frozen=True)
class EventSpec:
    """One event for `raise_events`: the arguments of `raise_event` that describe the fact."""

    org_id: int
    kind: NotificationKind | str
    subject_type: str
    subject_id: int | None
    title: str
    url: str
    dedup_key: str
    detail: dict[str, Any] = field(default_factory=dict)


async def raise_events(*, session: AsyncSession, events: Sequence[EventSpec], settings: Settings | None = None) -> int:
    """Many events at once (a sweep's crossings), with raise_event's guarantees: one dedup lookup, one insert,
    each organization's recipients read once. Returns how many events were new."""
    settings = settings or _DEFAULT_SETTINGS
    keys = [spec.dedup_key for spec in events]
    known = set(await session.scalars(select(NotificationEvent.dedup_key).where(NotificationEvent.dedup_key.in_(keys)))) if keys else set()
    fresh: dict[str, NotificationEvent] = {}
    for spec in events:
        if spec.dedup_key not in known and spec.dedup_key not in fresh:
            fresh[spec.dedup_key] = NotificationEvent(
                org_id=spec.org_id, kind=NotificationKind(spec.kind).value, subject_type=spec.subject_type,
                subject_id=spec.subject_id, title=spec.title[:300], url=spec.url, dedup_key=spec.dedup_key,
                detail=dict(spec.detail),
            )
    if not fresh:
        return 0
    try:
        async with session.begin_nested():
            session.add_all(fresh.values())
            await session.flush()
    except IntegrityError:  # another process raised some of them meanwhile: one at a time, each deduplicated
        created = 0
        for spec in events:
            _, new = await raise_event(session=session, org_id=spec.org_id, kind=spec.kind, subject_type=spec.subject_type,
                                       subject_id=spec.subject_id, title=spec.title, url=spec.url, dedup_key=spec.dedup_key,
                                       detail=spec.detail, settings=settings)
            created += new
        return created
    audiences: dict[tuple[int, bool], _Audience] = {}
    for event in fresh.values():
        await _fan_out(session, event, settings, audiences, flush=False)
    await session.flush()
    return len(fresh)


@dataclass
class _Audience:
    """Who hears about an organization's events: admins, their preferences and verified targets, the Slack channel."""

    agents: Sequence[Agent]
    prefs: dict[int, NotificationPreference]
    targets: dict[int, list[NotificationTarget]]
    slack_channel: str


async def _audience(session: AsyncSession, org_id: int, platform: bool, settings: Settings) -> _Audience:
    # Platform events go to the platform admins (no organization), never to the applicant's own admins.
    recipients = (
        (Agent.org_id.is_(None), Agent.role.in_(roles_with(Permission.PLATFORM_REVIEW)))
        if platform
        else (Agent.org_id == org_id, Agent.role.in_(roles_with(Permission.ADMIN_PUSHES)))
    )
    # Platform admins belong to no organization: choosing them is a cross-organization read, said explicitly.
    query = select(Agent).where(*recipients, Agent.active.is_(True)).order_by(Agent.id).execution_options(all_orgs=platform)
    agents = (await session.scalars(query)).all()
    prefs = await preferences_for(session=session, agent_ids=[a.id for a in agents])
    targets = await _verified_targets(session, [a.id for a in agents])
    org = await session.get(Organization, org_id)
    channel = settings.notifications.slack_channels.get(org.slug, "") if org is not None and not platform else ""
    return _Audience(agents, prefs, targets, channel)


async def _fan_out(
    session: AsyncSession, event: NotificationEvent, settings: Settings, audiences: dict[tuple[int, bool], _Audience],
    *, flush: bool = True,
) -> None:
    config = settings.notifications
    routed = set(config.routes.get(event.kind, TARGET_KINDS))
    stamp = now()
    seen: set[tuple[str, str]] = set()
    platform = event.kind in PLATFORM_KINDS
    key = (event.org_id, platform)
    if key not in audiences:
        audiences[key] = await _audience(session, event.org_id, platform, settings)
    audience = audiences[key]
    for agent in audience.agents:
        pref = audience.prefs.get(agent.id)
        if pref is not None and pref.kinds and event.kind not in pref.kinds:
            continue
        allowed = routed & set(pref.targets if pref is not None and pref.targets else TARGET_KINDS)
        locale = pref.locale if pref is not None else settings.locale
        if "workbench" in allowed:
            session.add(
                NotificationPush(
                    org_id=event.org_id,
                    event_id=event.id,
                    agent_id=agent.id,
                    target_kind="workbench",
                    address=str(agent.id),
                    state="delivered",
                )
            )
        quiet = in_quiet_hours(pref, stamp)
        for target in audience.targets.get(agent.id, []):
            if target.kind in allowed and (target.kind, target.address) not in seen:
                seen.add((target.kind, target.address))
                await _push(session, event, target.kind, target.address, agent.id, locale, settings, held=quiet)
    channel = audience.slack_channel
    if channel and "slack" in routed and ("slack", channel) not in seen:
        await _push(session, event, "slack", channel, None, settings.locale, settings, held=False)
    if flush:
        await session.flush()


async def _verified_targets(session: AsyncSession, agent_ids: list[int]) -> dict[int, list[NotificationTarget]]:
    rows = await session.scalars(
        select(NotificationTarget)
        .where(NotificationTarget.agent_id.in_(agent_ids), NotificationTarget.verified_at.is_not(None))
        .order_by(NotificationTarget.id)
        .execution_options(all_orgs=True)  # keyed by the recipients already chosen (platform admins have no organization)
    )
    grouped: dict[int, list[NotificationTarget]] = {}
    for row in rows:
        grouped.setdefault(row.agent_id, []).append(row)
    return grouped


async def _push(
    session: AsyncSession,
    event: NotificationEvent,
    target_kind: str,
    address: str,
    agent_id: int | None,
    locale: str,
    settings: Settings,
    *,
    held: bool,
) -> None:
    if target_kind not in PUSH_CHANNELS:
        return
    if not held and await _recent_pushes(session, target_kind, address) >= settings.notifications.per_target_per_hour:
        held = True  # flooding one target helps nobody: the rest waits for the digest
    push = NotificationPush(
        org_id=event.org_id,
        event_id=event.id,
        agent_id=agent_id,
        target_kind=target_kind,
        address=address,
        state="held" if held else "queued",
    )
    session.add(push)
    if held:
        return
    item = await enqueue(
        session=session,
        channel=PUSH_CHANNELS[target_kind],
        target=address,
        payload=push_payload(event, target_kind, locale, settings.server.public_url),
        idempotency_key=idempotency_key("push", event.id, target_kind, address),
        org_id=event.org_id,
    )
    push.outbox_id = item.id


async def _recent_pushes(session: AsyncSession, target_kind: str, address: str) -> int:
    since = now() - timedelta(hours=1)
    count = await session.scalar(
        select(func.count())
        .select_from(NotificationPush)
        .where(
            NotificationPush.target_kind == target_kind,
            NotificationPush.address == address,
            NotificationPush.created_at >= since,
            NotificationPush.state == "queued",
        )
    )
    return int(count or 0)


async def preferences_for(*, session: AsyncSession, agent_ids: list[int]) -> dict[int, NotificationPreference]:
    if not agent_ids:
        return {}
    rows = await session.scalars(
        select(NotificationPreference).where(NotificationPreference.agent_id.in_(agent_ids)).execution_options(all_orgs=True)
    )  # keyed by agent ids chosen by the caller
    return {row.agent_id: row for row in rows}
