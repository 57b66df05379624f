"""Canned replies page: every agent sees the organization's list; administrators add and delete."""

from __future__ import annotations

from aiohttp import web

from bot.core.canned_replies import VARIABLES, add_canned, delete_canned, list_canned
from bot.core.common.errors import Forbidden
from bot.core.orgs.models import Agent
from bot.core.orgs.permissions import member_org_id
from workbench.auth import AGENT, agent_page, agent_session, agent_transaction
from workbench.params import path_id
from workbench.render import render

ADMIN_ROLES = ("platform_admin", "main_admin", "admin")


def _admin(agent: Agent) -> None:
    if agent.role not in ADMIN_ROLES:
        raise Forbidden("only administrators change canned replies")


@agent_page
async def canned_page(request: web.Request) -> web.Response:
    agent = request[AGENT]
    async with agent_session(request) as session:
        replies = await list_canned(session=session, org_id=member_org_id(agent))
    return render(request, "workbench/canned.html", replies=replies, variables=VARIABLES, can_edit=agent.role in ADMIN_ROLES)


@agent_page
async def add_view(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    _admin(agent)
    form = await request.post()
    async with agent_transaction(request) as session:
        await add_canned(session=session, org_id=member_org_id(agent), shortcut=str(form.get("shortcut", "")),
                         text=str(form.get("text", "")))
    raise web.HTTPSeeOther("/workbench/canned")


@agent_page
async def delete_view(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    _admin(agent)
    canned_id = path_id(request, "canned_id", "no such canned reply")
    async with agent_transaction(request) as session:
        await delete_canned(session=session, org_id=member_org_id(agent), canned_id=canned_id)
    raise web.HTTPSeeOther("/workbench/canned")


def setup(app: web.Application) -> None:
    app.router.add_get("/workbench/canned", canned_page)
    app.router.add_post("/workbench/canned", add_view)
    app.router.add_post("/workbench/canned/{canned_id}/delete", delete_view)
