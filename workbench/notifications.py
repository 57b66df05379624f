"""The admin's notification list (with each push's delivery state) and notification preferences."""

from __future__ import annotations

from aiohttp import web

from bot.context import AppContext
from bot.core.common.errors import InvalidInput
from bot.core.notifications.fanout import TARGET_KINDS, NotificationKind
from bot.core.notifications.inbox import get_preferences, list_for_agent, mark_all_read, save_preferences
from bot.core.orgs.permissions import Permission
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_session, agent_transaction
from workbench.render import render

# What each event means, in words (msgids of the translation catalogues).
KIND_LABELS = {
    "conversation_waiting": "A customer is waiting",
    "work_order_new": "New work order",
    "sla_at_risk": "SLA at risk",
    "sla_breached": "SLA breached",
    "rights_request_received": "Privacy rights request received",
    "rights_request_due_soon": "Privacy rights request due soon",
    "rights_request_overdue": "Privacy rights request overdue",
    "certification_submitted": "Certification application submitted",
    "identity_check_failures": "Repeated failed identity checks",
    "delivery_failing": "Message delivery failing",
}
TARGET_LABELS = {"workbench": "Workbench", "slack": "Slack", "telegram": "Telegram", "email": "Email"}


def setup_notifications(app: web.Application, ctx: AppContext) -> None:
    r = app.router
    r.add_get("/workbench/notifications", notifications_page)
    r.add_post("/workbench/notifications/read", read_all)
    r.add_post("/workbench/notifications/preferences", preferences)


@agent_page(permission=Permission.NOTIFICATIONS)
async def notifications_page(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    agent = request[AGENT]
    raw = request.query.get("before")
    try:
        before = int(raw) if raw else None
    except ValueError:
        raise InvalidInput("before: a notification id") from None
    async with agent_session(request) as session:
        entries = await list_for_agent(session=session, agent=agent, before_id=before, limit=ctx.settings.workbench.page_size)
        pref = await get_preferences(session=session, agent=agent)
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(
            {
                "notifications": [
                    {
                        "id": e.push_id,
                        "kind": e.event.kind,
                        "title": e.event.title,
                        "url": e.event.url,
                        "read": e.read,
                        "deliveries": [{"target": d.target_kind, "state": d.state, "error": d.error} for d in e.deliveries],
                    }
                    for e in entries
                ]
            }
        )
    return render(
        request,
        "workbench/notifications.html",
        entries=entries,
        pref=pref,
        kinds=[k.value for k in NotificationKind],
        targets=TARGET_KINDS,
        kind_labels=KIND_LABELS,
        target_labels=TARGET_LABELS,
    )


@agent_page(permission=Permission.NOTIFICATIONS)
async def read_all(request: web.Request) -> web.StreamResponse:
    async with agent_transaction(request) as session:
        await mark_all_read(session=session, agent=request[AGENT])
    raise web.HTTPSeeOther("/workbench/notifications")


@agent_page(permission=Permission.NOTIFICATIONS)
async def preferences(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    async with agent_transaction(request) as session:
        await save_preferences(
            session=session,
            agent=request[AGENT],
            kinds=[str(v) for v in form.getall("kinds", [])],
            targets=[str(v) for v in form.getall("targets", [])],
            quiet_start=str(form.get("quiet_start", "")).strip(),
            quiet_end=str(form.get("quiet_end", "")).strip(),
            digest=form.get("digest") == "on",
            locale=str(form.get("locale", "en")),
        )
    raise web.HTTPSeeOther("/workbench/notifications")
