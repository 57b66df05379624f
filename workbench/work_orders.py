"""Work-order pages: the list (filters, sorted by due time, live countdowns), one order (timeline, actions),
and opening one from a conversation. Views translate HTTP to core services; errors map in bot/app.py."""

from __future__ import annotations

from aiohttp import web

from bot.config import PRIORITIES
from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput, NotFound
from bot.core.conversations.customers import get_customer
from bot.core.conversations.threads import get_conversation
from bot.core.orgs.agents import list_agents
from bot.core.orgs.audit import record
from bot.core.orgs.permissions import member_org_id
from bot.core.orgs.switches import WORK_ORDERS, require_on
from bot.core.work_orders.changes import (
    add_work_order_note,
    allowed,
    assign_work_order,
    change_priority,
    change_status,
    reply_on_work_order,
)
from bot.core.work_orders.services import (
    STATUSES,
    ListFilter,
    get_work_order,
    history,
    list_work_orders,
    open_work_order,
)
from bot.core.work_orders.sla import calendar_for
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_transaction
from workbench.params import MAX_ID, path_id
from workbench.render import render
from workbench.sla_view import countdown, server_now


def _filter(request: web.Request) -> ListFilter:
    q = request.query
    return ListFilter(
        mine=q.get("mine") == "1", unassigned=q.get("unassigned") == "1", at_risk=q.get("at_risk") == "1",
        breached=q.get("breached") == "1", priority=q.get("priority", ""), status=q.get("status", ""),
        category=q.get("category", ""),
    )


def _page(request: web.Request) -> int:
    try:
        return max(int(request.query.get("page", "1")), 1)
    except ValueError:
        raise InvalidInput("page: a number") from None


@agent_page
async def list_view(request: web.Request) -> web.Response:
    ctx, agent = request.app[CTX], request[AGENT]
    flt, page, size = _filter(request), _page(request), ctx.settings.workbench.page_size
    async with agent_transaction(request) as session:
        orders = await list_work_orders(session=session, org_id=member_org_id(agent), agent_id=agent.id, flt=flt, limit=size + 1,
                                        offset=(page - 1) * size)
        agents = await list_agents(session=session, org_id=member_org_id(agent))
        cal = await calendar_for(session=session, settings=ctx.settings, org_id=member_org_id(agent))
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="view_work_orders",
                     detail={"rows": len(orders[:size])})
    stamp = now()
    rows = [(o, countdown(o, cal, stopped=o.status in ("resolved", "closed"), at=stamp)) for o in orders[:size]]
    return render(request, "workbench/work_orders.html", rows=rows, flt=flt, page=page, more=len(orders) > size,
                  names={a.id: a.name for a in agents}, statuses=STATUSES, priorities=PRIORITIES,
                  categories=ctx.settings.sla.categories, server_now=server_now(), query=dict(request.query))


def _number(request: web.Request) -> str:
    return request.match_info["number"]


@agent_page
async def order_view(request: web.Request) -> web.Response:
    ctx, agent = request.app[CTX], request[AGENT]
    async with agent_transaction(request) as session:
        order = await get_work_order(session=session, org_id=member_org_id(agent), label=_number(request))
        customer = await get_customer(session=session, org_id=member_org_id(agent), customer_id=order.customer_id)
        events = await history(session=session, order=order)
        agents = await list_agents(session=session, org_id=member_org_id(agent))
        cal = await calendar_for(session=session, settings=ctx.settings, org_id=member_org_id(agent))
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="view_work_order",
                     subject_type="customer", subject_id=customer.id, detail={"work_order": order.label})
    return render(request, "workbench/work_order.html", order=order, customer=customer, events=events,
                  names={a.id: a.name for a in agents}, agents=agents, allowed=allowed(order.status), priorities=PRIORITIES,
                  clock=countdown(order, cal, stopped=order.status in ("resolved", "closed")), server_now=server_now())


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _back(request: web.Request, number: int) -> web.StreamResponse:
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"ok": True, "number": number})
    raise web.HTTPSeeOther(f"/workbench/work-orders/{number}")


@agent_page
async def action_view(request: web.Request) -> web.StreamResponse:
    """POST /workbench/work-orders/{number}/{action}: status, priority, assign, note, reply."""
    ctx, agent = request.app[CTX], request[AGENT]
    action, form = request.match_info["action"], await _form(request)
    async with agent_transaction(request) as session:
        await require_on(session=session, org_id=member_org_id(agent), key=WORK_ORDERS)  # 403 while work orders are turned off
        order = await get_work_order(session=session, org_id=member_org_id(agent), label=_number(request))
        if action == "status":
            await change_status(session=session, settings=ctx.settings, order=order, status=form.get("status", ""), agent=agent)
        elif action == "priority":
            await change_priority(session=session, settings=ctx.settings, order=order, priority=form.get("priority", ""),
                                  agent=agent)
        elif action == "assign":
            await assign_work_order(session=session, order=order, assignee_id=_agent_id(form.get("assignee_id", "")), agent=agent)
        elif action == "note":
            await add_work_order_note(session=session, order=order, agent=agent, text=form.get("text", ""))
        elif action == "reply":
            await reply_on_work_order(session=session, order=order, agent=agent, text=form.get("text", ""))
        else:
            raise NotFound("no such action")
        number = order.number
    ctx.dispatcher.wake()
    return _back(request, number)




def _agent_id(raw: str) -> int | None:
    try:
        value = int(raw) if raw else None
    except ValueError:
        raise InvalidInput("assignee: not an agent id") from None
    if value is not None and not 0 < value < MAX_ID:
        raise NotFound("no such agent")
    return value


@agent_page
async def open_from_conversation(request: web.Request) -> web.StreamResponse:
    ctx, agent = request.app[CTX], request[AGENT]
    form = await _form(request)
    conversation_id = path_id(request, "conversation_id", "no such conversation")
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
        customer = await get_customer(session=session, org_id=member_org_id(agent), customer_id=conversation.customer_id)
        order = await open_work_order(
            session=session, settings=ctx.settings, customer=customer, conversation=conversation,
            category=form.get("category", ""), description=form.get("description", ""),
            priority=form.get("priority", "normal"), agent_id=agent.id,
        )
        number = order.number
    ctx.dispatcher.wake()
    return _back(request, number)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/workbench/work-orders", list_view)
    r.add_get("/workbench/work-orders/{number}", order_view)
    r.add_post("/workbench/work-orders/{number}/{action}", action_view)
    r.add_post("/workbench/conversations/{conversation_id}/work-orders", open_from_conversation)
