"""The tenant sweep: every route of the app (enumerated from its router), called by every role of
another organization and by a platform admin without a grant, with organization A's ids in the path
and in the form: 404 or 403 wherever an id is in the path, A's data never in a response, and not one
row of organization A changed."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select

import bot.all_models  # noqa: F401 - every table
from bot.core.canned_replies import add_canned
from bot.core.certification import applications as certification
from bot.core.conversations.models import Conversation, Customer
from bot.core.notices import broadcasts
from bot.core.orgs.agents import create_agent
from bot.core.orgs.models import Agent, AgentSession
from bot.core.orgs.permissions import Permission
from bot.core.rights.requests import open_request
from bot.core.search.views import save_view
from bot.core.storage.base import Base
from bot.core.storage.db import transaction
from bot.core.work_orders.services import open_work_order
from tests.conftest import Server
from tests.utils.factories import PASSWORD, OrgWithAdmin, csrf_from, make_org, make_platform_admin
from tests.utils.routes import app_routes
from tests.utils.webchat import Visitor

MARKER = "tenant-secret-marker"


async def _snapshot(server: Server, org_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that belongs to organization A (and its agents' sessions), column by column."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with server.ctx.factory() as session:
        for table in Base.metadata.sorted_tables:
            if "org_id" in table.c:
                result = await session.execute(select(table).where(table.c.org_id == org_id).order_by(*table.primary_key))
                rows[table.name] = [tuple(r) for r in result]
        agents = select(Agent.id).where(Agent.org_id == org_id)
        result = await session.execute(select(AgentSession.__table__).where(AgentSession.agent_id.in_(agents)))
        rows["agent_sessions"] = sorted(tuple(r) for r in result)
    return rows


async def _login(server: Server, email: str) -> tuple[aiohttp.ClientSession, str]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(f"{server.url}/workbench/login") as resp:
        token = csrf_from(await resp.text())
    async with http.post(f"{server.url}/workbench/login", allow_redirects=False,
                         data={"email": email, "password": PASSWORD, "csrf_token": token}) as resp:
        assert resp.status == 302
    async with http.get(f"{server.url}/workbench/account") as resp:
        return http, csrf_from(await resp.text())


async def test_every_route_refuses_another_organizations_ids_as_every_role(server: Server, demo: OrgWithAdmin) -> None:
    visitor = await Visitor(server.url).open()
    conversation_id = (await visitor.say(MARKER))["message"]["conversation_id"]
    _status, body = await visitor.upload("a.txt", MARKER.encode(), "text/plain")
    await visitor.close()
    async with transaction(server.ctx.factory) as session:
        colleague = await create_agent(session=session, org_id=demo.org.id, email="colleague@demo.example.com",
                                       password=PASSWORD, role="agent")
        application = await certification.apply(
            session=session, actor=demo.admin, settings=server.ctx.settings, legal_name=MARKER, address=MARKER,
            filename="l.pdf", mime_type="application/pdf", content=b"%PDF", data_dir=server.ctx.settings.data_dir)
        notice = await broadcasts.create(session=session, org_id=demo.org.id, actor=demo.admin, kind="incident",
                                         title=MARKER, body=MARKER, client_key="sweep")
        conversation = await session.get(Conversation, conversation_id)
        customer = await session.get(Customer, conversation.customer_id) if conversation else None
        assert conversation is not None and customer is not None
        order = await open_work_order(session=session, settings=server.ctx.settings, customer=customer,
                                      category=server.ctx.settings.sla.categories[0], description=MARKER, conversation=conversation)
        canned = await add_canned(session=session, org_id=demo.org.id, shortcut="sweep", text=MARKER)
        view = await save_view(session=session, agent=demo.admin, name=MARKER, query={"q": MARKER})
        rights_request = await open_request(session=session, settings=server.ctx.settings, org_id=demo.org.id,
                                            customer_id=customer.id, identity_id=conversation.identity_id, kind="export")
    ids = {"conversation_id": str(conversation_id), "attachment_id": str(body["message"]["attachment_id"]),
           "agent_id": str(colleague.id), "application_id": str(application.id), "org_id": str(demo.org.id), "broadcast_id": str(notice.id),
           "token": "not-a-token", "slug": demo.org.slug, "number": str(order.number), "action": "status",
           "request_id": str(rights_request.id), "notice_id": "1", "lock_id": "1",
           "canned_id": str(canned.id), "view_id": str(view.id)}
    form = {"assignee_id": str(colleague.id), "agent_id": str(colleague.id), "conversation_id": str(conversation_id),
            "target_id": "1", "text": "x", "role": "agent", "status": "resolved", "email": "x@example.com",
            "decision": "approve", "reason": "x"}
    rival = await make_org(server.ctx.factory, slug="rival", name="Rival Corp")
    callers = {"rival main_admin": rival.admin.email}
    async with transaction(server.ctx.factory) as session:
        for role in ("admin", "agent"):
            callers[f"rival {role}"] = (await create_agent(session=session, org_id=rival.org.id, password=PASSWORD,
                                                           email=f"{role}.member@rival.example.com", role=role)).email
    callers["platform admin"] = (await make_platform_admin(server.ctx.factory)).email
    before = await _snapshot(server, demo.org.id)
    routes = app_routes(server.app)
    routes.sort(key=lambda r: r.template == "/workbench/logout")
    assert any(r.params for r in routes) and len(routes) >= 40
    for caller, email in callers.items():
        http, csrf = await _login(server, email)
        try:
            for route in routes:
                # By design: platform admins review every organization's certification application.
                if caller == "platform admin" and route.permission is Permission.PLATFORM_REVIEW:
                    continue
                if route.template in ("/chat/ws", "/workbench/ws"):
                    continue  # websockets: tests/workbench/test_security.py watches another org's conversation
                data = {**form, "csrf_token": csrf} if route.method == "POST" else None
                async with http.request(route.method, server.url + route.url(ids), data=data, allow_redirects=False) as resp:
                    text = await resp.text()
                assert MARKER not in text, (caller, route)
                if route.params:
                    assert resp.status in (403, 404), (caller, route, resp.status)
                else:
                    assert resp.status < 500, (caller, route, resp.status)
        finally:
            await http.close()
    assert await _snapshot(server, demo.org.id) == before
