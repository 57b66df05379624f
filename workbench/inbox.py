"""The inbox: conversations by last activity, keyset-paginated, and single rows for the live inbox."""

from __future__ import annotations

from aiohttp import web

from bot.core.conversations.threads import STATUSES, list_inbox
from bot.core.inbox import get_inbox_row
from bot.core.orgs.agents import agent_names
from bot.core.orgs.audit import record
from bot.core.orgs.permissions import member_org_id
from bot.core.work_orders.clocks import inbox_clocks
from bot.core.work_orders.sla import calendar_for
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_transaction
from workbench.params import path_id
from workbench.render import render
from workbench.sla_view import countdown, server_now


@agent_page
async def inbox(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    agent = request[AGENT]
    status = request.query.get("status", "open")
    if status not in STATUSES:
        status = "open"
    mine = request.query.get("mine") == "1"
    async with agent_transaction(request) as session:
        page = await list_inbox(
            session=session,
            org_id=member_org_id(agent),
            status=status,
            assignee_id=agent.id if mine else None,
            cursor=request.query.get("after"),
            limit=ctx.settings.workbench.page_size,
        )
        # The inbox shows customers' names and message previews: personal data, so the view is audited.
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="view_inbox",
                     detail={"status": status, "rows": len(page.rows)})
        names = await agent_names(session=session, org_id=member_org_id(agent))
        waiting = {r.conversation_id: r.waiting_since for r in page.rows if r.waiting_since and r.status == "open"}
        clocks = await inbox_clocks(session=session, settings=ctx.settings, org_id=member_org_id(agent), waiting=waiting)
        cal = await calendar_for(session=session, settings=ctx.settings, org_id=member_org_id(agent))
    countdowns = {cid: countdown(clock, cal) for cid, clock in clocks.items()}
    return render(request, "workbench/inbox.html", page=page, status=status, mine=mine, statuses=STATUSES, names=names,
                  countdowns=countdowns, server_now=server_now())


@agent_page
async def inbox_row(request: web.Request) -> web.Response:
    """One row, rendered like the page's, when it matches the page's filter; 204 when it does not."""
    agent = request[AGENT]
    conversation_id = path_id(request, "conversation_id", "no such conversation")
    async with agent_transaction(request) as session:
        row = await get_inbox_row(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
        mine = request.query.get("mine", "")
        if row.status != request.query.get("status", "open") or (mine and str(row.assignee_id) != mine):
            return web.Response(status=204)
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="view_inbox",
                     detail={"conversation_id": conversation_id, "rows": 1})
        names = await agent_names(session=session, org_id=member_org_id(agent))
    return render(request, "workbench/_inbox_row.html", row=row, names=names)
