"""The widget page: the one-line snippet with this organization's slug, and (admins) its brand colour and pre-chat
fields."""

from __future__ import annotations

from aiohttp import web

from bot.core.common.errors import Forbidden
from bot.core.orgs.organizations import get_organization
from bot.core.orgs.permissions import member_org_id
from bot.core.widget import get_widget, save_widget
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_session, agent_transaction
from workbench.render import render

ADMIN_ROLES = ("platform_admin", "main_admin", "admin")


@agent_page
async def widget_page(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    agent = request[AGENT]
    async with agent_session(request) as session:
        org = await get_organization(session=session, org_id=member_org_id(agent))
        widget = await get_widget(session=session, org_id=member_org_id(agent))
    base = ctx.settings.server.public_url.rstrip("/")
    snippet = f'<script src="{base}/static/widget.js" data-org="{org.slug}" data-color="{widget.brand_color}" async></script>'
    return render(request, "workbench/widget.html", org=org, widget=widget, snippet=snippet,
                  can_edit=agent.role in ADMIN_ROLES, embed_origins=ctx.settings.webchat.embed_origins)


@agent_page
async def save_widget_view(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    if agent.role not in ADMIN_ROLES:
        raise Forbidden("only administrators change the widget")
    form = await request.post()
    async with agent_transaction(request) as session:
        await save_widget(session=session, org_id=member_org_id(agent), brand_color=str(form.get("brand_color", "")),
                          ask_name=form.get("ask_name") == "on", ask_email=form.get("ask_email") == "on")
    raise web.HTTPSeeOther("/workbench/widget")


def setup(app: web.Application) -> None:
    app.router.add_get("/workbench/widget", widget_page)
    app.router.add_post("/workbench/widget", save_widget_view)
