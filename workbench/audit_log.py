"""The audit log viewer for admins: filters (actor, customer, action, time), pages, CSV export.
Reading the log is itself audited (it holds customer ids and IP addresses)."""

from __future__ import annotations

from aiohttp import web

from bot.core.common.errors import InvalidInput
from bot.core.orgs.audit import record
from bot.core.orgs.audit_log import AuditFilter, actor_names, csv_chunks, list_actions, list_events
from bot.core.orgs.permissions import Permission, member_org_id
from workbench.auth import AGENT, agent_page, agent_session, agent_transaction
from workbench.render import render

PAGE = 100


@agent_page(permission=Permission.AUDIT_READ)
async def audit_page(request: web.Request) -> web.Response:
    agent = request[AGENT]
    audit_filter = AuditFilter.parse(dict(request.query))
    raw_before = request.query.get("before", "")
    if raw_before and not raw_before.isdigit():
        raise InvalidInput("before: an event id")
    async with agent_transaction(request) as session:
        events = await list_events(session=session, org_id=member_org_id(agent), audit_filter=audit_filter,
                                   before_id=int(raw_before) if raw_before else None, limit=PAGE)
        actions = await list_actions(session=session, org_id=member_org_id(agent))
        names = await actor_names(session=session, org_id=member_org_id(agent))
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="view_audit_log",
                     detail={"filter": {k: v for k, v in request.query.items() if k != "before"}, "rows": len(events)})
    query = {k: v for k, v in request.query.items() if k != "before"}
    return render(request, "workbench/audit_log.html", events=events, actions=actions, names=names, query=query,
                  next_before=events[-1].id if len(events) == PAGE else None)


@agent_page(permission=Permission.AUDIT_READ)
async def audit_csv(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    audit_filter = AuditFilter.parse(dict(request.query))
    async with agent_transaction(request) as session:
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="export_audit_log",
                     detail={"filter": dict(request.query)})
    response = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8",
                                           "Content-Disposition": 'attachment; filename="audit-log.csv"'})
    await response.prepare(request)
    async with agent_session(request) as session:
        async for chunk in csv_chunks(session=session, org_id=member_org_id(agent), audit_filter=audit_filter):
            await response.write(chunk.encode())
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/workbench/audit", audit_page)
    app.router.add_get("/workbench/audit.csv", audit_csv)
