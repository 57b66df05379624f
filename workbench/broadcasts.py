"""Broadcast pages: an admin writes a security-incident, transfer or cessation notice, starts it once,
and watches its progress; a platform admin publishes privacy-policy versions (a major one broadcasts)."""

from __future__ import annotations

import secrets

from aiohttp import web

from bot.core.notices import broadcasts, policy
from bot.core.orgs.permissions import Permission, member_org_id
from bot.core.storage.db import transaction
from bot.i18n import gettext
from bot.pages import request_locale
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_session, agent_transaction
from workbench.params import path_id
from workbench.render import render

KINDS = {"incident": "Security incident", "transfer": "Transfer of the service", "cessation": "End of the service"}
INCIDENT_PARTS = (("what", "What happened"), ("impact", "Impact"), ("measures", "Measures taken"), ("advice", "What you can do"))


def kick(app: web.Application) -> None:
    """Fan out now rather than at the next sweep (bot/core/notices/sweeps.py)."""
    app[CTX].services["broadcasts.kick"]()


@agent_page(permission=Permission.BROADCASTS)
async def broadcasts_page(request: web.Request) -> web.Response:
    agent = request[AGENT]
    async with agent_session(request) as session:
        rows = await broadcasts.list_broadcasts(session=session, org_id=member_org_id(agent))
        progress = {b.id: await broadcasts.progress(session=session, broadcast=b) for b in rows}
    return render(request, "workbench/broadcasts.html", rows=rows, progress=progress, kinds=KINDS, parts=INCIDENT_PARTS,
                  client_key=secrets.token_urlsafe(16))


@agent_page(permission=Permission.BROADCASTS)
async def create_view(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    form = await request.post()
    kind = str(form.get("kind", ""))
    if kind == "incident":  # the parts' headings in the language of the page the admin wrote them on
        locale = request_locale(request)
        body = "\n\n".join(f"{gettext(locale, label)}: {str(form.get(key, '')).strip()}" for key, label in INCIDENT_PARTS
                           if str(form.get(key, "")).strip())
    else:
        body = str(form.get("body", ""))
    async with agent_transaction(request) as session:
        await broadcasts.create(session=session, org_id=member_org_id(agent), actor=agent, kind=kind if kind in KINDS else "",
                                title=str(form.get("title", ""))[:1000], body=body[:8000], client_key=str(form.get("client_key", "")))
    raise web.HTTPSeeOther("/workbench/broadcasts")


@agent_page(permission=Permission.BROADCASTS)
async def start_view(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    broadcast_id = path_id(request, "broadcast_id", "no such broadcast")
    async with agent_transaction(request) as session:
        await broadcasts.start(session=session, org_id=member_org_id(agent), broadcast_id=broadcast_id, actor=agent)
    kick(request.app)
    raise web.HTTPSeeOther("/workbench/broadcasts")


@agent_page(permission=Permission.PLATFORM_POLICY)
async def policy_page(request: web.Request) -> web.Response:
    async with request.app[CTX].factory() as session:
        current = await policy.current(session=session)
    return render(request, "workbench/platform_policy.html", current=current)


@agent_page(permission=Permission.PLATFORM_POLICY)
async def publish_view(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    async with transaction(request.app[CTX].factory) as session:
        await policy.publish(session=session, actor=request[AGENT], version=str(form.get("version", ""))[:100],
                             summary=str(form.get("summary", ""))[:6000], major=form.get("major") == "on")
    kick(request.app)
    raise web.HTTPSeeOther("/workbench/platform/policy")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/workbench/broadcasts", broadcasts_page)
    r.add_post("/workbench/broadcasts", create_view)
    r.add_post("/workbench/broadcasts/{broadcast_id}/start", start_view)
    r.add_get("/workbench/platform/policy", policy_page)
    r.add_post("/workbench/platform/policy", publish_view)
