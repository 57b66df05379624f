"""Rights requests: intake, numbering per organization, statuses, deadline with pause and one extension.

Statuses: received -> verified -> in_progress <-> awaiting_customer -> fulfilled | denied | withdrawn. Every
change writes a timeline row and an audit event (actor and reason, no personal data). The deadline is data
(`due_at`), computed by bot/core/rights/deadline.py on the shared business calendar.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.business_time import BusinessCalendar
from bot.core.business_time.orgs import org_calendar
from bot.core.common.clock import now
from bot.core.common.errors import Conflict, InvalidInput, NotFound
from bot.core.orgs.audit import record
from bot.core.orgs.switches import require_on, rights_switch
from bot.core.rights.deadline import days_between, due_at
from bot.core.rights.models import RightsRequest, RightsRequestEvent
from bot.core.storage.batch import PreloadedFact, batch_customers, keep, memo, preload_fact

KINDS = ("review", "correct", "export", "delete", "authorization", "withdraw_consent", "cancel", "complaint")
# Policy 四.3: the five grounds on which a customer may ask for deletion.
GROUNDS = ("unlawful", "no_consent", "breach", "purpose_done", "service_ended")
# Policy 四.6: why a request may be refused.
DENIAL_REASONS = ("repeated", "excessive_means", "others_rights", "impractical", "unrelated")
CORRECTABLE = ("name", "email", "phone", "locale")
# What a request's details hold: the customer's words ("text"), or for a correction the field and its new value.
DETAIL_KEYS = ("text", "field", "value")
OPEN = ("received", "verified", "in_progress", "awaiting_customer")
CLOSED = ("fulfilled", "denied", "withdrawn")
# The actions of a request's timeline row (`_timeline`), each audited as rights_<action>.
TIMELINE_ACTIONS = ("received", "status", "extended")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("verified", "withdrawn"),
    "verified": ("in_progress", "awaiting_customer", "fulfilled", "denied", "withdrawn"),
    "in_progress": ("awaiting_customer", "fulfilled", "denied", "withdrawn"),
    "awaiting_customer": ("in_progress", "fulfilled", "denied", "withdrawn"),
}


def request_number(request: RightsRequest) -> str:
    return f"RR-{request.number:06d}"


async def calendar_for(*, session: AsyncSession, settings: Settings, org_id: int) -> BusinessCalendar:
    """The organization's business calendar (its timezone and hours over the deployment's)."""
    return await org_calendar(session=session, settings=settings, org_id=org_id)


def _check(kind: str, ground: str, details: dict[str, Any]) -> None:
    if kind not in KINDS:
        raise InvalidInput("unknown request type %(kind)s", kind=repr(kind))
    if kind == "delete" and ground not in GROUNDS:
        raise InvalidInput("choose one of the five grounds for deletion")
    if kind == "correct" and details.get("field") not in CORRECTABLE:
        raise InvalidInput("that field does not exist or cannot be corrected here")


async def _next_number(session: AsyncSession, org_id: int) -> int:
    if session.get_bind().dialect.name == "postgresql":  # numbers per organization, no gaps, across processes
        await session.execute(text("SELECT pg_advisory_xact_lock(7332, :org)"), {"org": org_id})
    highest = await session.scalar(select(func.max(RightsRequest.number)).where(RightsRequest.org_id == org_id))
    return int(highest or 0) + 1


async def _is_repeat(session: AsyncSession, settings: Settings, org_id: int, customer_id: int, kind: str) -> bool:
    since = now() - timedelta(days=settings.privacy.repeat_window_days)
    earlier = await session.scalar(select(func.count()).select_from(RightsRequest).where(
        RightsRequest.org_id == org_id, RightsRequest.customer_id == customer_id, RightsRequest.kind == kind,
        RightsRequest.received_at >= since, RightsRequest.status != "withdrawn"))
    return bool(earlier)


async def _timeline(session: AsyncSession, request: RightsRequest, *, actor_type: str, actor_id: int | None, action: str,
                    from_status: str = "", to_status: str = "", note: str = "") -> None:
    session.add(RightsRequestEvent(org_id=request.org_id, request_id=request.id, actor_type=actor_type, actor_id=actor_id,
                                   action=action, from_status=from_status, to_status=to_status, note=note, created_at=now()))
    await record(session=session, org_id=request.org_id, actor_type=actor_type, actor_id=actor_id,
                 action=f"rights_{action}", subject_type="rights_request", subject_id=request.id,
                 detail={"number": request_number(request), "from": from_status, "to": to_status, "reason": note[:200]})
    await session.flush()


async def open_request(
    *, session: AsyncSession, settings: Settings, org_id: int, customer_id: int, identity_id: int | None, kind: str,
    ground: str = "", details: dict[str, Any] | None = None, actor_type: str = "customer", actor_id: int | None = None,
) -> RightsRequest:
    details = dict(details or {})
    _check(kind, ground, details)
    await require_on(session=session, org_id=org_id, key=rights_switch(kind))  # ServiceOff while the type is turned off
    repeated = await _is_repeat(session, settings, org_id, customer_id, kind)
    request = RightsRequest(
        org_id=org_id, number=await _next_number(session, org_id), customer_id=customer_id, identity_id=identity_id,
        kind=kind, ground=ground if kind == "delete" else "", status="received", details=details, repeated=repeated,
        received_at=now(), created_at=now(),
    )
    session.add(request)
    await session.flush()
    (memo(session, "no_open_rights") or set()).discard(customer_id)  # this customer has one now
    note = "on behalf of the customer" if actor_type == "agent" else ""
    await _timeline(session, request, actor_type=actor_type, actor_id=actor_id or (customer_id if actor_type == "customer" else None),
                    action="received", to_status="received", note=note + (" (repeated request)" if repeated else ""))
    return request


async def mark_verified(*, session: AsyncSession, settings: Settings, request: RightsRequest) -> RightsRequest:
    """Identity confirmed: the clock starts (response_days from now, calendar or working days)."""
    if request.status != "received":
        return request
    stamp = now()
    request.verified_at = stamp
    await _set_due(session, settings, request)
    await _move(session, request, "verified", actor_type="customer", actor_id=request.customer_id, note="identity verified")
    from bot.core.rights.reminders import raise_received

    await raise_received(session=session, settings=settings, request=request)
    return request


async def _set_due(session: AsyncSession, settings: Settings, request: RightsRequest) -> None:
    assert request.verified_at is not None
    cal = await calendar_for(session=session, settings=settings, org_id=request.org_id)
    request.due_at = due_at(cal, verified_at=request.verified_at,
                            response_days=settings.privacy.response_days, extended_days=request.extended_days,
                            paused_days=request.paused_days, mode=settings.privacy.deadline_days)


async def _move(session: AsyncSession, request: RightsRequest, to: str, *, actor_type: str, actor_id: int | None,
                note: str = "", action: str = "status") -> None:
    current = request.status
    if to not in TRANSITIONS.get(current, ()):
        raise Conflict("a request that is %(current)s cannot become %(to)s", current=current.replace("_", " "), to=to.replace("_", " "))
    request.status = to
    if to in CLOSED:
        request.closed_at = now()
    await _timeline(session, request, actor_type=actor_type, actor_id=actor_id, action=action,
                    from_status=current, to_status=to, note=note)


async def change_status(
    *, session: AsyncSession, settings: Settings, request: RightsRequest, to: str, actor_type: str, actor_id: int | None,
    reason: str = "",
) -> RightsRequest:
    """Move a request; entering awaiting_customer pauses the clock, leaving it resumes (due moves by the paused days)."""
    if to in ("denied", "withdrawn") and not reason.strip() and actor_type == "agent":
        raise InvalidInput("give a reason")
    if request.status == "awaiting_customer" and to != "awaiting_customer":
        await _resume(session, settings, request)
    if to == "awaiting_customer":
        request.paused_since = now()
    await _move(session, request, to, actor_type=actor_type, actor_id=actor_id, note=reason)
    return request


async def _resume(session: AsyncSession, settings: Settings, request: RightsRequest) -> None:
    if request.paused_since is None:
        return
    cal = await calendar_for(session=session, settings=settings, org_id=request.org_id)
    request.paused_days += days_between(cal, request.paused_since, now(), settings.privacy.deadline_days)
    request.paused_since = None
    if request.verified_at is not None:
        await _set_due(session, settings, request)


async def customer_answered(*, session: AsyncSession, settings: Settings, request: RightsRequest) -> None:
    """The customer wrote while we waited on them: the clock runs again."""
    if request.status == "awaiting_customer":
        await change_status(session=session, settings=settings, request=request, to="in_progress", actor_type="customer",
                            actor_id=request.customer_id, reason="the customer answered")


async def extend(*, session: AsyncSession, settings: Settings, request: RightsRequest, agent_id: int, reason: str) -> RightsRequest:
    if not reason.strip():
        raise InvalidInput("give the reason the customer will be told")
    if request.extended_days:
        raise Conflict("the deadline was already extended once")
    if request.status not in OPEN or request.verified_at is None:
        raise Conflict("only an open, verified request can be extended")
    request.extended_days = settings.privacy.extension_days
    request.extension_reason = reason.strip()
    await _set_due(session, settings, request)
    await _timeline(session, request, actor_type="agent", actor_id=agent_id, action="extended", note=reason.strip())
    return request


async def deny(*, session: AsyncSession, settings: Settings, request: RightsRequest, agent_id: int, reason_code: str,
               note: str = "") -> RightsRequest:
    if reason_code not in DENIAL_REASONS:
        raise InvalidInput("choose one of the policy's reasons for refusing")
    request.outcome_reason = reason_code
    return await change_status(session=session, settings=settings, request=request, to="denied", actor_type="agent",
                               actor_id=agent_id, reason=f"{reason_code}: {note}".strip(": "))


async def get_request(*, session: AsyncSession, org_id: int, request_id: int) -> RightsRequest:
    request = await session.get(RightsRequest, request_id)
    if request is None or request.org_id != org_id:
        raise NotFound("no such request")  # another organization's request does not exist for this caller
    return request


# Built once (SQLAlchemy memoizes the cache key on the statement object): asked once per ingest batch.
_WITH_OPEN_REQUESTS = select(RightsRequest.customer_id).where(
    RightsRequest.customer_id.in_(bindparam("customers", expanding=True)), RightsRequest.status.in_(OPEN))


async def _without_open_requests(session: AsyncSession) -> set[int]:
    """Of the ingest batch's customers, those with no open request, read once (bot/core/storage/batch.py)."""
    kept = memo(session, "no_open_rights")
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    customers = batch_customers(session)
    if customers is None:
        return set()
    with_open = set((await session.scalars(_WITH_OPEN_REQUESTS, {"customers": list(customers)})).all())
    return keep(session, "no_open_rights", set(customers) - with_open)  # type: ignore[no-any-return]


def _keep_without_open(session: AsyncSession, customers: frozenset[int], open_by_customer: dict[int, Any]) -> None:
    keep(session, "no_open_rights", {c for c in customers if not open_by_customer.get(c)})


# The privacy flow asks on every text; the ingest writer's preload reads the answer with the batch's chats.
preload_fact(PreloadedFact(
    name="no_open_rights",
    column=lambda customer_id: exists().where(RightsRequest.customer_id == customer_id, RightsRequest.status.in_(OPEN))
    .correlate_except(RightsRequest),
    keep=_keep_without_open,
))


async def open_requests_of(*, session: AsyncSession, org_id: int, customer_id: int) -> list[RightsRequest]:
    if customer_id in await _without_open_requests(session):
        return []
    return list((await session.scalars(select(RightsRequest).where(
        RightsRequest.org_id == org_id, RightsRequest.customer_id == customer_id, RightsRequest.status.in_(OPEN),
    ).order_by(RightsRequest.id))).all())


async def timeline(*, session: AsyncSession, request: RightsRequest) -> list[RightsRequestEvent]:
    return list((await session.scalars(select(RightsRequestEvent).where(
        RightsRequestEvent.request_id == request.id).order_by(RightsRequestEvent.id))).all())
