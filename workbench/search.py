"""The search page: full-text search over messages and customers with the inbox filters, and saved views."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from bot.core.common.errors import InvalidInput
from bot.core.conversations.models import CHANNELS
from bot.core.conversations.threads import STATUSES
from bot.core.orgs.agents import list_agents
from bot.core.orgs.audit import record
from bot.core.orgs.permissions import member_org_id
from bot.core.search import SearchFilters, search
from bot.core.search.views import delete_view, get_view, list_views, save_view, update_view
from workbench.auth import AGENT, agent_page, agent_transaction
from workbench.params import path_id
from workbench.render import render

FIELDS = ("q", "channel", "status", "assignee", "unread", "verified", "label")


def _filters(query: dict[str, str]) -> SearchFilters:
    assignee = query.get("assignee", "")
    try:
        assignee_id = int(assignee) if assignee else None
    except ValueError:
        raise InvalidInput("assignee: not an agent id") from None
    return SearchFilters(
        channel=query.get("channel") if query.get("channel") in CHANNELS else None,
        status=query.get("status") if query.get("status") in STATUSES else None,
        assignee_id=assignee_id,
        unread=query.get("unread") == "1",
        verified=query.get("verified") == "1",
        label=(query.get("label") or "").strip().lower()[:40] or None,
    )


@agent_page
async def search_page(request: web.Request) -> web.Response:
    agent = request[AGENT]
    params = {k: request.query.get(k, "") for k in FIELDS}
    filters = _filters(params)
    async with agent_transaction(request) as session:
        results = await search(session=session, org_id=member_org_id(agent), query=params["q"], filters=filters)
        views = await list_views(session=session, agent=agent)
        current = next((v for v in views if str(v.id) == request.query.get("view")), None)  # the view being edited
        agents = await list_agents(session=session, org_id=member_org_id(agent))
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="search",
                     detail={"filters": filters.as_dict(), "words": len(params["q"].split()),
                             "rows": len(results.messages) + len(results.customers)})
    return render(request, "workbench/search.html", params=params, results=results, views=views, agents=agents, current=current,
                  channels=CHANNELS, statuses=STATUSES, query_string=urlencode({k: v for k, v in params.items() if v}))


async def _posted_query(request: web.Request) -> tuple[str, dict[str, str]]:
    form = await request.post()
    query = {k: str(form.get(k, "")) for k in FIELDS if form.get(k)}
    _filters(query)  # refuse what the page would refuse
    return str(form.get("name", "")), query


@agent_page
async def save_view_action(request: web.Request) -> web.StreamResponse:
    name, query = await _posted_query(request)
    async with agent_transaction(request) as session:
        await save_view(session=session, agent=request[AGENT], name=name, query=query)
    raise web.HTTPSeeOther("/workbench/search?" + urlencode(query))


@agent_page
async def update_view_action(request: web.Request) -> web.StreamResponse:
    """Rename the view and give it the filters now on the search page."""
    view_id = path_id(request, "view_id", "no such saved view")
    name, query = await _posted_query(request)
    async with agent_transaction(request) as session:
        view = await update_view(session=session, agent=request[AGENT], view_id=view_id, name=name, query=query)
    raise web.HTTPSeeOther("/workbench/search?" + urlencode({**query, "view": view.id}))


@agent_page
async def delete_view_action(request: web.Request) -> web.StreamResponse:
    view_id = path_id(request, "view_id", "no such saved view")
    async with agent_transaction(request) as session:
        view = await get_view(session=session, agent=request[AGENT], view_id=view_id)
        query = dict(view.query)
        await delete_view(session=session, agent=request[AGENT], view_id=view_id)
    raise web.HTTPSeeOther("/workbench/search?" + urlencode(query))


def setup(app: web.Application) -> None:
    app.router.add_get("/workbench/search", search_page)
    app.router.add_post("/workbench/search/views", save_view_action)
    app.router.add_post("/workbench/search/views/{view_id}", update_view_action)
    app.router.add_post("/workbench/search/views/{view_id}/delete", delete_view_action)
