"""Team management over real HTTP: invitations by expiring link (email through a real SMTP server),
role changes that never leave zero main administrators, transfer, deactivation ending sessions at once,
password change and reset by email."""

from __future__ import annotations

import re
from datetime import timedelta

import aiohttp
from sqlalchemy import select

from bot.core.common import clock
from bot.core.orgs.agents import create_agent
from bot.core.orgs.models import Agent, AuditEvent
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.fakes.smtp import SmtpSink, body_text
from tests.utils.factories import PASSWORD, OrgWithAdmin, csrf_from, login, make_org

NEW_PASSWORD = "a brand new passphrase"


async def _member(server: Server, org: OrgWithAdmin, email: str, role: str = "agent") -> Agent:
    async with transaction(server.ctx.factory) as session:
        return await create_agent(session=session, org_id=org.org.id, email=email, password=PASSWORD, role=role)


async def _post(http: aiohttp.ClientSession, url: str, csrf: str, **data: str) -> int:
    async with http.post(url, data={**data, "csrf_token": csrf}, allow_redirects=False) as resp:
        return resp.status


def _link(text: str) -> str:
    """The link's path (links carry server.public_url; the test server listens elsewhere)."""
    match = re.search(r"http://\S+?(/workbench/(?:invite|password/reset)/[\w-]+)", text)
    assert match, text
    return match.group(1)


async def _fill_public_form(http: aiohttp.ClientSession, url: str, **data: str) -> aiohttp.ClientResponse:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        token = csrf_from(await resp.text())
    return await http.post(url, data={**data, "csrf_token": token}, allow_redirects=False)


async def test_invitation_link_works_once_and_expires(mail_server: Server, smtp_sink: SmtpSink,
                                                      http: aiohttp.ClientSession) -> None:
    org = await make_org(mail_server.ctx.factory)
    csrf = await login(http, mail_server.url, org.admin.email)
    async with http.post(f"{mail_server.url}/workbench/team/invite",
                         data={"email": "New.Hire@example.com", "role": "agent", "csrf_token": csrf}) as resp:
        assert resp.status == 200
        shown = _link(await resp.text())
    mailed = _link(body_text(await smtp_sink.wait_for("new.hire@example.com")))
    assert shown == mailed
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as guest:
        resp = await _fill_public_form(guest, mail_server.url + mailed, name="New Hire", password=NEW_PASSWORD)
        assert resp.status == 303
        await login(guest, mail_server.url, "new.hire@example.com", NEW_PASSWORD)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as again:
        async with again.get(mail_server.url + mailed) as resp:
            assert resp.status == 404  # used
    async with http.post(f"{mail_server.url}/workbench/team/invite",
                         data={"email": "late@example.com", "role": "admin", "csrf_token": csrf}) as resp:
        late = _link(await resp.text())
    later = clock.now() + timedelta(hours=mail_server.ctx.settings.orgs.invitation_hours, minutes=1)
    clock.set_clock(lambda: later)
    async with aiohttp.ClientSession() as guest:
        async with guest.get(mail_server.url + late) as resp:
            assert resp.status == 404  # expired
    async with mail_server.ctx.factory() as session:
        assert not await session.scalar(select(Agent.id).where(Agent.email == "late@example.com"))
        actions = set(await session.scalars(select(AuditEvent.action).where(AuditEvent.org_id == org.org.id)))
    assert {"invite_agent", "accept_invitation"} <= actions


async def test_inviting_a_main_admin_or_a_member_again_is_refused(server: Server, demo: OrgWithAdmin,
                                                                   http: aiohttp.ClientSession) -> None:
    csrf = await login(http, server.url, demo.admin.email)
    url = f"{server.url}/workbench/team/invite"
    assert await _post(http, url, csrf, email="x@example.com", role="main_admin") == 400
    assert await _post(http, url, csrf, email="not-an-address", role="agent") == 400
    assert await _post(http, url, csrf, email=demo.admin.email, role="agent") == 409


async def test_the_organization_never_has_zero_main_administrators(server: Server, demo: OrgWithAdmin,
                                                                   http: aiohttp.ClientSession) -> None:
    colleague = await _member(server, demo, "colleague@example.com", role="admin")
    csrf = await login(http, server.url, demo.admin.email)
    me = demo.admin.id
    assert await _post(http, f"{server.url}/workbench/team/{me}/role", csrf, role="admin") == 409
    assert await _post(http, f"{server.url}/workbench/team/{me}/deactivate", csrf) == 409
    assert await _post(http, f"{server.url}/workbench/team/{colleague.id}/transfer", csrf) == 303
    async with server.ctx.factory() as session:
        roles = dict((await session.execute(select(Agent.id, Agent.role))).all())
    assert roles == {me: "admin", colleague.id: "main_admin"}
    # Now an admin: may not touch the main administrator.
    assert await _post(http, f"{server.url}/workbench/team/{colleague.id}/role", csrf, role="agent") == 403
    assert await _post(http, f"{server.url}/workbench/team/{colleague.id}/deactivate", csrf) == 403
    assert await _post(http, f"{server.url}/workbench/team/{colleague.id}/transfer", csrf) == 403


async def test_deactivation_ends_the_agents_sessions_at_once(server: Server, demo: OrgWithAdmin,
                                                             http: aiohttp.ClientSession) -> None:
    agent = await _member(server, demo, "leaver@example.com")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as leaver:
        await login(leaver, server.url, agent.email)
        csrf = await login(http, server.url, demo.admin.email)
        assert await _post(http, f"{server.url}/workbench/team/{agent.id}/deactivate", csrf) == 303
        async with leaver.get(f"{server.url}/workbench", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"] == "/workbench/login"
    async with server.ctx.factory() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "deactivate_agent"))
    assert event is not None and event.subject_id == agent.id and event.actor_id == demo.admin.id


async def test_password_change_needs_the_current_one_and_signs_out_elsewhere(server: Server, demo: OrgWithAdmin,
                                                                             http: aiohttp.ClientSession) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as elsewhere:
        await login(elsewhere, server.url, demo.admin.email)
        csrf = await login(http, server.url, demo.admin.email)
        url = f"{server.url}/workbench/account/password"
        assert await _post(http, url, csrf, current="wrong password", new=NEW_PASSWORD) == 403
        assert await _post(http, url, csrf, current=PASSWORD, new="short") == 400
        assert await _post(http, url, csrf, current=PASSWORD, new=NEW_PASSWORD) == 303
        async with http.get(f"{server.url}/workbench", allow_redirects=False) as resp:
            assert resp.status == 200  # this browser got a fresh session
        async with elsewhere.get(f"{server.url}/workbench", allow_redirects=False) as resp:
            assert resp.status == 302
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as fresh:
        await login(fresh, server.url, demo.admin.email, NEW_PASSWORD)


async def test_password_reset_by_email(mail_server: Server, smtp_sink: SmtpSink) -> None:
    org = await make_org(mail_server.ctx.factory)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as guest:
        for email in ("nobody@example.com", org.admin.email):
            resp = await _fill_public_form(guest, f"{mail_server.url}/workbench/password/forgot", email=email)
            assert resp.status == 200 and "If an account uses this address" in await resp.text()
        link = mail_server.url + _link(body_text(await smtp_sink.wait_for(org.admin.email)))
        assert not smtp_sink.to("nobody@example.com")
        resp = await _fill_public_form(guest, link, password="short")
        assert resp.status == 400
        resp = await _fill_public_form(guest, link, password=NEW_PASSWORD)
        assert resp.status == 303
        async with guest.get(link) as again:
            assert again.status == 404
        await login(guest, mail_server.url, org.admin.email, NEW_PASSWORD)
