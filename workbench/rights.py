"""Workbench pages of rights requests: queue with days-left timers, request page (timeline, actions), intake on
behalf of a customer, monthly on-time report with a chart, export download by signed link that expires.

Handlers only translate: core services do the work and domain errors map to status codes in one place (the
app's error middleware). Every page that shows a customer's details is audited by the service it calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from bot.core.common.errors import Forbidden, InvalidInput, NotFound
from bot.core.conversations.live import chats_forgotten
from bot.core.orgs.permissions import member_org_id
from bot.core.rights import fulfil
from bot.core.rights.apps import acknowledge_notice, create_app, list_apps
from bot.core.rights.intake import confirm_if_verified, export_file, open_on_behalf, request_page
from bot.core.rights.queue import chart_svg, list_queue, monthly_report
from bot.core.rights.requests import CLOSED, DENIAL_REASONS, GROUNDS, KINDS, OPEN, change_status, get_request
from bot.core.storage.db import transaction
from bot.core.storage.tenancy import org_transaction
from bot.web import CTX, sign_until, unsign_fresh
from workbench.auth import AGENT, agent_page, agent_session, agent_transaction
from workbench.params import path_id
from workbench.render import render

log = logging.getLogger(__name__)
PURPOSE = "rights-export"
ADMIN_ROLES = ("platform_admin", "main_admin", "admin")
TASKS = web.AppKey("rights_tasks", set)


def _id(request: web.Request) -> int:
    return path_id(request, "request_id", "no such request")


def _done(request: web.Request, request_id: int) -> web.StreamResponse:
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"ok": True, "request_id": request_id})
    raise web.HTTPSeeOther(f"/workbench/rights/{request_id}")


@agent_page
async def queue_page(request: web.Request) -> web.Response:
    ctx, agent = request.app[CTX], request[AGENT]
    status = request.query.get("status", "open")
    kind = request.query.get("kind", "")
    mine = agent.id if request.query.get("mine") else None
    async with agent_session(request) as session:
        rows = await list_queue(session=session, settings=ctx.settings, org_id=member_org_id(agent), status=status,
                                kind=kind if kind in KINDS else "", mine=mine)
    return render(request, "workbench/rights_queue.html", rows=rows, status=status, kind=kind, kinds=KINDS,
                  statuses=OPEN + CLOSED)


@agent_page
async def report_page(request: web.Request) -> web.Response:
    agent = request[AGENT]
    async with agent_session(request) as session:
        figures = await monthly_report(session=session, org_id=member_org_id(agent))
    return render(request, "workbench/rights_report.html", figures=figures, chart=chart_svg(figures))


@agent_page
async def detail_page(request: web.Request) -> web.Response:
    ctx, agent = request.app[CTX], request[AGENT]
    request_id = _id(request)
    async with agent_transaction(request) as session:
        page = await request_page(session=session, org_id=member_org_id(agent), request_id=request_id, agent_id=agent.id)
    link = ""
    if page["item"].export_state == "ready":
        expires = int(time.time()) + 60 * ctx.settings.privacy.export_link_minutes
        token = sign_until(ctx.settings.secret_key, PURPOSE, f"{agent.org_id}-{request_id}", expires)
        link = f"/workbench/rights/{request_id}/download?t={token}"
    return render(request, "workbench/rights_request.html", grounds=GROUNDS, reasons=DENIAL_REASONS, link=link,
                  link_minutes=ctx.settings.privacy.export_link_minutes, **page)


async def _run_export(app: web.Application, org_id: int, request_id: int, agent_id: int) -> None:
    ctx = app[CTX]
    try:
        await fulfil.fulfil_export(factory=ctx.factory, settings=ctx.settings, org_id=org_id, request_id=request_id,
                                   agent_id=agent_id)
        ctx.dispatcher.wake()
    except Exception:  # noqa: BLE001 - the request shows the failure; the agent can start it again
        log.exception("export of rights request %s failed", request_id)
        async with org_transaction(ctx.factory, org_id) as session:
            row = await get_request(session=session, org_id=org_id, request_id=request_id)
            row.export_state = "failed"


def _start_export(request: web.Request, org_id: int, request_id: int, agent_id: int) -> None:
    tasks: set[asyncio.Task[None]] = request.app[TASKS]
    task = asyncio.create_task(_run_export(request.app, org_id, request_id, agent_id))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _act(request: web.Request, form: Any, request_id: int) -> None:
    ctx, agent = request.app[CTX], request[AGENT]
    action = str(form.get("action", ""))
    args: dict[str, Any] = {"settings": ctx.settings, "org_id": agent.org_id, "request_id": request_id, "agent_id": agent.id}
    text = str(form.get("text", ""))
    if action == "erase":
        report = await fulfil.fulfil_erasure(factory=ctx.factory, **args)
        await chats_forgotten(ctx.hub, report.chats)
        return
    async with agent_transaction(request) as session:
        if action == "export":
            row = await get_request(session=session, org_id=member_org_id(agent), request_id=request_id)
            if row.kind not in ("export", "review") or row.status in ("received", "fulfilled", "denied", "withdrawn"):
                raise InvalidInput("this request cannot get an export package now")
        elif action == "start":
            row = await get_request(session=session, org_id=member_org_id(agent), request_id=request_id)
            row.assignee_id = row.assignee_id or agent.id
            await change_status(session=session, settings=ctx.settings, request=row, to="in_progress", actor_type="agent",
                                actor_id=agent.id, reason=text)
        elif action == "confirm":
            row = await get_request(session=session, org_id=member_org_id(agent), request_id=request_id)
            if not await confirm_if_verified(session=session, settings=ctx.settings, request=row):
                raise InvalidInput("the customer has not verified their identity recently; use Ask to verify first")
        elif action == "ask":
            await fulfil.ask_customer(session=session, question=text, **args)
        elif action == "fee":
            await fulfil.ask_fee(session=session, fee=text, **args)
        elif action == "extend":
            await fulfil.extend_and_tell(session=session, reason=text, **args)
        elif action == "deny":
            await fulfil.deny_and_tell(session=session, reason_code=str(form.get("reason", "")), note=text, **args)
        elif action == "answer":
            await fulfil.answer(session=session, text=text, **args)
        elif action in ("approve", "reject"):
            await fulfil.decide_correction(session=session, approve=action == "approve", reason=text, **args)
        elif action == "withdraw_consent":
            await fulfil.fulfil_withdrawal(session=session, **args)
        else:
            raise InvalidInput("unknown action")
    if action == "export":
        _start_export(request, member_org_id(agent), request_id, agent.id)


@agent_page
async def action_view(request: web.Request) -> web.StreamResponse:
    request_id = _id(request)
    async with agent_session(request) as session:  # another organization's request: 404 before the action is read
        await get_request(session=session, org_id=member_org_id(request[AGENT]), request_id=request_id)
    await _act(request, await request.post(), request_id)
    request.app[CTX].dispatcher.wake()
    return _done(request, request_id)


@agent_page
async def on_behalf(request: web.Request) -> web.StreamResponse:
    ctx, agent = request.app[CTX], request[AGENT]
    form = await request.post()
    conversation_id = path_id(request, "conversation_id", "no such conversation")
    kind = str(form.get("kind", ""))
    details: dict[str, Any] = {"text": str(form.get("text", ""))[:2000]}
    if kind == "correct":
        details = {"field": str(form.get("field", "")), "value": str(form.get("value", ""))[:320]}
    async with agent_transaction(request) as session:
        row = await open_on_behalf(session=session, settings=ctx.settings, org_id=member_org_id(agent), conversation_id=conversation_id,
                                   agent_id=agent.id, kind=kind, ground=str(form.get("ground", "")), details=details)
        request_id = row.id
    ctx.dispatcher.wake()
    return _done(request, request_id)


@agent_page
async def download(request: web.Request) -> web.StreamResponse:
    ctx, agent = request.app[CTX], request[AGENT]
    request_id = _id(request)
    value, expired = unsign_fresh(ctx.settings.secret_key, PURPOSE, request.query.get("t"), time.time())
    if expired:
        raise Forbidden("this download link has expired; open the request again for a new one")
    if value != f"{agent.org_id}-{request_id}":
        raise NotFound("no such download")  # forged, or another organization's link
    async with agent_transaction(request) as session:
        path, name = await export_file(session=session, data_dir=ctx.settings.data_dir, org_id=member_org_id(agent),
                                       request_id=request_id, agent_id=agent.id)
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                           "Content-Type": "application/zip", "Cache-Control": "no-store"})


@agent_page
async def apps_page(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    if request.method == "POST":
        if agent.role not in ADMIN_ROLES:
            raise Forbidden("only administrators define third-party apps")
        form = await request.post()
        async with agent_transaction(request) as session:
            await create_app(session=session, org_id=member_org_id(agent), name=str(form.get("name", "")),
                             purpose=str(form.get("purpose", "")), categories=str(form.get("categories", "")).split(","),
                             webhook=str(form.get("webhook", "")), email=str(form.get("email", "")))
        raise web.HTTPSeeOther("/workbench/rights/apps")
    async with agent_session(request) as session:
        apps = await list_apps(session=session, org_id=member_org_id(agent))
    return render(request, "workbench/rights_apps.html", apps=apps)


async def acknowledge(request: web.Request) -> web.Response:
    """Public: the link in a deletion notice. Another organization's or a forged link is simply not found."""
    ctx = request.app[CTX]
    notice_id = path_id(request, "notice_id", "no such notice")
    async with transaction(ctx.factory) as session:  # public and signed: no agent, no organization to scope to
        await acknowledge_notice(session=session, secret_key=ctx.settings.secret_key, notice_id=notice_id,
                                 token=request.query.get("t", ""))
    return web.Response(text="Thank you: the deletion is acknowledged.\n")


def setup(app: web.Application) -> None:
    app[TASKS] = set()
    r = app.router
    r.add_get("/workbench/rights", queue_page)
    r.add_get("/workbench/rights/report", report_page)
    r.add_get("/workbench/rights/apps", apps_page)
    r.add_post("/workbench/rights/apps", apps_page)
    r.add_get("/rights/notices/{notice_id}/ack", acknowledge)
    r.add_post("/rights/notices/{notice_id}/ack", acknowledge)
    r.add_get("/workbench/rights/{request_id}", detail_page)
    r.add_post("/workbench/rights/{request_id}/action", action_view)
    r.add_get("/workbench/rights/{request_id}/download", download)
    r.add_post("/workbench/conversations/{conversation_id}/rights", on_behalf)
