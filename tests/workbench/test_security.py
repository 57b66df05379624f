"""Tenant isolation, CSRF, escaping, login throttling and the audit trail of personal-data views."""

from __future__ import annotations

import aiohttp
from sqlalchemy import func, select, text, update

from bot.core.conversations.models import Message
from bot.core.orgs.audit import verify_chain
from bot.core.orgs.models import AuditEvent
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, csrf_from, login, make_org
from tests.utils.webchat import Visitor


async def _conversation(server: Server, text: str = "hello", org: str = "demo") -> int:
    visitor = await Visitor(server.url, org=org).open()
    try:
        ack = await visitor.say(text)
        return int(ack["message"]["conversation_id"])
    finally:
        await visitor.close()


async def test_another_organizations_agent_gets_404_everywhere(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    conversation_id = await _conversation(server)
    visitor = await Visitor(server.url).open()
    status, body = await visitor.upload("a.txt", b"secret file", "text/plain")
    await visitor.close()
    attachment_id = body["message"]["attachment_id"]
    other = await make_org(server.ctx.factory, slug="rival", name="Rival Corp")
    csrf = await login(http, server.url, other.admin.email)
    base = f"{server.url}/workbench/conversations/{conversation_id}"
    async with http.get(base) as resp:
        assert resp.status == 404
    for action, data in (("reply", {"text": "leak?"}), ("note", {"text": "x"}), ("assign", {"assignee_id": ""}),
                         ("status", {"status": "resolved"})):
        async with http.post(f"{base}/{action}", data={**data, "csrf_token": csrf}) as resp:
            assert resp.status == 404, action
    async with http.get(f"{server.url}/workbench/files/{attachment_id}") as resp:
        assert resp.status == 404
    async with http.ws_connect(f"{server.url}/workbench/ws") as ws:
        await ws.send_json({"type": "watch", "conversation_id": conversation_id})
        assert (await ws.receive_json(timeout=5))["error"] == "not_found"
    async with http.get(f"{server.url}/workbench") as resp:
        assert f"/workbench/conversations/{conversation_id}" not in await resp.text()
    async with server.ctx.factory() as session:
        assert not await session.scalar(select(Message.id).where(Message.text == "leak?"))


async def test_assigning_to_another_organizations_agent_is_refused(server: Server, demo: OrgWithAdmin,
                                                                  http: aiohttp.ClientSession) -> None:
    conversation_id = await _conversation(server)
    other = await make_org(server.ctx.factory, slug="rival", name="Rival Corp")
    csrf = await login(http, server.url, demo.admin.email)
    async with http.post(f"{server.url}/workbench/conversations/{conversation_id}/assign",
                         data={"assignee_id": str(other.admin.id), "csrf_token": csrf}) as resp:
        assert resp.status == 404


async def test_form_posts_without_csrf_are_refused(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    conversation_id = await _conversation(server)
    await login(http, server.url, demo.admin.email)
    url = f"{server.url}/workbench/conversations/{conversation_id}/reply"
    async with http.post(url, data={"text": "forged"}) as resp:
        assert resp.status == 403
    async with http.post(url, data={"text": "forged", "csrf_token": "not-the-token"}) as resp:
        assert resp.status == 403
    async with http.post(f"{server.url}/workbench/login", data={"email": "a@b.c", "password": "x"}) as resp:
        assert resp.status == 403  # the login form has its own CSRF token
    async with server.ctx.factory() as session:
        assert not await session.scalar(select(Message.id).where(Message.text == "forged"))


async def test_script_in_a_message_is_shown_as_text(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    conversation_id = await _conversation(server, "<script>alert('x')</script><img src=x onerror=alert(1)>")
    await login(http, server.url, demo.admin.email)
    async with http.get(f"{server.url}/workbench/conversations/{conversation_id}") as resp:
        html = await resp.text()
        csp = resp.headers["Content-Security-Policy"]
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "script-src 'self'" in csp


async def test_login_is_throttled_after_repeated_failures(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    async def attempt(password: str) -> int:
        async with http.get(f"{server.url}/workbench/login") as resp:
            token = csrf_from(await resp.text())
        async with http.post(f"{server.url}/workbench/login", allow_redirects=False,
                             data={"email": demo.admin.email, "password": password, "csrf_token": token}) as resp:
            return resp.status

    statuses = [await attempt("wrong password!") for _ in range(5)]
    assert statuses == [401] * 5
    assert await attempt(demo.password) == 429  # even the right password waits out the window


async def test_session_cookie_is_httponly_and_samesite(server: Server, demo: OrgWithAdmin) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{server.url}/workbench/login") as resp:
            token = csrf_from(await resp.text())
            cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.post(f"{server.url}/workbench/login", allow_redirects=False,
                             data={"email": demo.admin.email, "password": demo.password, "csrf_token": token}) as resp:
            cookies = resp.headers.getall("Set-Cookie")
            assert resp.status == 302, (resp.status, cookies)
            session_cookie = next(v for v in cookies if v.startswith("incs_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie


async def test_forged_session_cookie_sends_to_login(server: Server, demo: OrgWithAdmin) -> None:
    async with aiohttp.ClientSession(cookies={"incs_session": "forged"}) as http:
        async with http.get(f"{server.url}/workbench", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"] == "/workbench/login"


async def test_every_view_of_personal_data_is_audited_and_the_chain_verifies(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession
) -> None:
    conversation_id = await _conversation(server)
    await login(http, server.url, demo.admin.email)
    for _ in range(2):
        async with http.get(f"{server.url}/workbench/conversations/{conversation_id}") as resp:
            assert resp.status == 200
    async with http.get(f"{server.url}/workbench") as resp:
        assert resp.status == 200
    async with server.ctx.factory() as session:
        views = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(
                AuditEvent.org_id == demo.org.id, AuditEvent.action == "view_conversation",
                AuditEvent.actor_id == demo.admin.id,
            )
        )
        assert views == 2
        assert await session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "view_inbox"))
        report = await verify_chain(session=session, org_id=demo.org.id)
        assert report.ok and report.checked >= 4
    # Tampering with one row breaks the chain at that row (the database refuses the UPDATE unless its guard is bypassed).
    async with server.ctx.factory() as session, session.begin():
        first = await session.scalar(select(AuditEvent).where(AuditEvent.org_id == demo.org.id, AuditEvent.action == "view_conversation"))
        assert first is not None
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            await session.execute(text("DROP TRIGGER audit_events_only_erasure"))
        await session.execute(update(AuditEvent).where(AuditEvent.id == first.id).values(actor_id=999))
    async with server.ctx.factory() as session:
        report = await verify_chain(session=session, org_id=demo.org.id)
    assert report.broken_at == first.id
