"""The role x permission matrix, from the permission table and the app's router: every route that
declares a permission refuses (403, "your role does not allow this") exactly the roles the table
leaves out, and lets the others past the check."""

from __future__ import annotations

import aiohttp
import pytest

from bot.core.orgs.agents import create_agent
from bot.core.orgs.permissions import PERMISSIONS, Role, may
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.utils.factories import PASSWORD, OrgWithAdmin, csrf_from, make_platform_admin
from tests.utils.routes import app_routes

DENIED = "your role does not allow this"
# Harmless values: missing ids, invalid choices; so an allowed route answers 4xx or a no-op, never a change.
FORM = {"services": "no-such-service", "role": "no-such-role", "status": "no-such-status", "decision": "none"}


async def _session_for(server: Server, email: str) -> tuple[aiohttp.ClientSession, str]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(f"{server.url}/workbench/login") as resp:
        token = csrf_from(await resp.text())
    async with http.post(f"{server.url}/workbench/login", allow_redirects=False,
                         data={"email": email, "password": PASSWORD, "csrf_token": token}) as resp:
        assert resp.status == 302
    async with http.get(f"{server.url}/workbench/account") as resp:
        return http, csrf_from(await resp.text())


def test_every_role_is_in_the_table_and_the_platform_admin_has_no_organization_permission() -> None:
    assert set(PERMISSIONS) == set(Role)
    assert not may("platform_admin", "workbench")  # type: ignore[arg-type]
    assert not may("no-such-role", next(iter(PERMISSIONS[Role.AGENT])))


@pytest.mark.parametrize("role", [r.value for r in Role])
async def test_role_permission_matrix_over_every_declared_route(server: Server, demo: OrgWithAdmin, role: str) -> None:
    if role == "platform_admin":
        email = (await make_platform_admin(server.ctx.factory)).email
    elif role == "main_admin":
        email = demo.admin.email
    else:
        async with transaction(server.ctx.factory) as session:
            email = (await create_agent(session=session, org_id=demo.org.id, email=f"{role}.member@demo.example.com",
                                        password=PASSWORD, role=role)).email
    http, csrf = await _session_for(server, email)
    routes = [r for r in app_routes(server.app) if r.permission is not None]
    assert len(routes) >= 30
    routes.sort(key=lambda r: r.template == "/workbench/logout")  # signing out last
    checked = 0
    try:
        for route in routes:
            url = server.url + route.url({p: "999999" for p in route.params})
            data = {**FORM, "csrf_token": csrf} if route.method == "POST" else None
            async with http.request(route.method, url, data=data, allow_redirects=False) as resp:
                body = await resp.text()
            allowed = may(role, route.permission)  # type: ignore[arg-type]
            if allowed:
                assert DENIED not in body and resp.status < 500, (route, resp.status)
            else:
                assert resp.status == 403 and DENIED in body, (route, resp.status)
            checked += 1
    finally:
        await http.close()
    assert checked == len(routes)


def test_an_organization_service_refuses_an_agent_of_no_organization() -> None:
    """Agent.org_id is `int | None` (platform admins have none): organization code takes it through
    member_org_id, which refuses (403) rather than querying with NULL."""
    from bot.core.common.errors import Forbidden
    from bot.core.orgs.models import Agent
    from bot.core.orgs.permissions import member_org_id

    assert member_org_id(Agent(org_id=7, email="a@example.com", role="agent")) == 7
    with pytest.raises(Forbidden):
        member_org_id(Agent(org_id=None, email="p@example.com", role="platform_admin"))
