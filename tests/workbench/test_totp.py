"""Optional TOTP two-factor login over real HTTP: set-up, the second login step, replay refused."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import aiohttp
import pyotp
import pytest
from sqlalchemy import select, update

from bot.core.common.errors import InvalidInput, NotFound
from bot.core.orgs.agents import create_agent
from bot.core.orgs.models import Agent, AuditEvent
from bot.core.orgs.team import reset_two_factor_by_operator
from bot.core.storage.db import transaction
from tests.conftest import SECRET, Server
from tests.fakes.smtp import SmtpSink, body_text
from tests.utils.factories import PASSWORD, OrgWithAdmin, csrf_from, login, make_org


async def _enable(http: aiohttp.ClientSession, server: Server) -> tuple[pyotp.TOTP, str]:
    async with http.get(f"{server.url}/workbench/account") as resp:
        html = await resp.text()
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', html)
    assert match, html
    totp = pyotp.TOTP(match.group(1))
    code = totp.now()
    async with http.post(f"{server.url}/workbench/account/totp/enable", allow_redirects=False,
                         data={"secret": match.group(1), "code": code, "csrf_token": csrf_from(html)}) as resp:
        assert resp.status == 303
    return totp, code


async def _password_step(http: aiohttp.ClientSession, server: Server, email: str, password: str) -> str:
    async with http.get(f"{server.url}/workbench/login") as resp:
        token = csrf_from(await resp.text())
    async with http.post(f"{server.url}/workbench/login", allow_redirects=False,
                         data={"email": email, "password": password, "csrf_token": token}) as resp:
        assert resp.status == 200, resp.status  # the second step, not a session
        html = await resp.text()
    match = re.search(r'name="pending" value="([^"]+)"', html)
    assert match
    return html


async def _code_step(http: aiohttp.ClientSession, server: Server, html: str, code: str) -> tuple[int, str]:
    """(status, page); a refused code answers with a fresh form (and a fresh form token)."""
    pending = re.search(r'name="pending" value="([^"]+)"', html)
    assert pending
    async with http.post(f"{server.url}/workbench/login/totp", allow_redirects=False,
                         data={"pending": pending.group(1), "code": code, "csrf_token": csrf_from(html)}) as resp:
        return resp.status, await resp.text()


async def test_totp_login_needs_a_fresh_code_and_refuses_a_replay(server: Server, demo: OrgWithAdmin,
                                                                  http: aiohttp.ClientSession) -> None:
    await login(http, server.url, demo.admin.email)
    totp, used = await _enable(http, server)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        html = await _password_step(other, server, demo.admin.email, demo.password)
        async with other.get(f"{server.url}/workbench", allow_redirects=False) as resp:
            assert resp.status == 302  # no session after the password alone
        status, html = await _code_step(other, server, html, used)
        assert status == 401 and "wrong or already used code" in html  # the code used to enable: a replay
        status, html = await _code_step(other, server, html, "000000" if used != "000000" else "111111")
        assert status == 401
        fresh = totp.at(time.time() + 30)  # the next time step: newer than the one used to enable
        assert (await _code_step(other, server, html, fresh))[0] == 302
        async with other.get(f"{server.url}/workbench", allow_redirects=False) as resp:
            assert resp.status == 200
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as third:
        html = await _password_step(third, server, demo.admin.email, demo.password)
        assert (await _code_step(third, server, html, fresh))[0] == 401  # seen once already
    async with server.ctx.factory() as session:
        stored = await session.scalar(select(Agent.totp_secret).where(Agent.id == demo.admin.id))
    assert stored and stored.startswith("v1:") and totp.secret not in stored  # sealed at rest, never the base32 secret


async def test_a_forged_pending_token_is_refused(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.url}/workbench/login") as resp:
        html = await resp.text()
    forged = html.replace('name="csrf_token"', 'name="pending" value="1.9999999999.00"><input name="csrf_token"')
    assert (await _code_step(http, server, forged, "123456"))[0] == 401


async def test_an_organization_can_require_two_factor_login_for_admins(server: Server, demo: OrgWithAdmin,
                                                                        http: aiohttp.ClientSession) -> None:
    csrf = await login(http, server.url, demo.admin.email)
    async with http.post(f"{server.url}/workbench/organization/settings",
                         data={"require_admin_totp": "on", "services": "channel:webchat", "csrf_token": csrf}) as resp:
        assert resp.status == 200 and "/workbench/account" in str(resp.url)  # sent to set it up
    async with http.get(f"{server.url}/workbench", allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/workbench/account"
    async with http.get(f"{server.url}/workbench/account") as resp:
        assert 'id="totp-required"' in await resp.text()
    await _enable(http, server)
    async with http.get(f"{server.url}/workbench", allow_redirects=False) as resp:
        assert resp.status == 200
    async with http.get(f"{server.url}/workbench/account") as resp:
        html = await resp.text()
    assert "Turn off" not in html  # required: cannot be switched off


async def test_a_plaintext_secret_left_by_an_older_version_is_read_once_and_sealed(server: Server, demo: OrgWithAdmin,
                                                                                   http: aiohttp.ClientSession) -> None:
    await login(http, server.url, demo.admin.email)
    totp, _used = await _enable(http, server)
    async with server.ctx.factory() as session, session.begin():  # as a database upgraded without the secret_key left it
        await session.execute(update(Agent).where(Agent.id == demo.admin.id).values(totp_secret=totp.secret))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        html = await _password_step(other, server, demo.admin.email, demo.password)
        assert (await _code_step(other, server, html, totp.at(time.time() + 30)))[0] == 302
    async with server.ctx.factory() as session:
        stored = await session.scalar(select(Agent.totp_secret).where(Agent.id == demo.admin.id))
    assert stored and stored.startswith("v1:") and totp.secret not in stored


async def _enabled_member(server: Server, org: OrgWithAdmin, email: str, role: str) -> tuple[Agent, aiohttp.ClientSession]:
    """A member signed in (the session returned) with two-factor login on."""
    async with transaction(server.ctx.factory) as session:
        member = await create_agent(session=session, org_id=org.org.id, email=email, password=PASSWORD, role=role)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    await login(http, server.url, email)
    await _enable(http, server)
    return member, http


async def _team_row(http: aiohttp.ClientSession, server: Server, agent_id: int) -> str:
    async with http.get(f"{server.url}/workbench/team") as resp:
        html = await resp.text()
    row = re.search(rf'<tr data-agent-id="{agent_id}">(.*?)</tr>', html, re.S)
    assert row, html
    return row.group(1)


async def test_an_administrator_resets_the_two_factor_login_of_a_member_who_lost_their_phone(
    mail_server: Server, smtp_sink: SmtpSink,
) -> None:
    """The member's sessions end, their password alone signs them in again (to set it up anew), they get an email,
    and the audit log names who did it. One's own is turned off on the account page; only a main administrator
    resets a main administrator's; a member of another organization is not found."""
    org = await make_org(mail_server.ctx.factory, slug="acme")
    member, member_http = await _enabled_member(mail_server, org, "lost.phone@acme.example.com", "agent")
    async with member_http, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
        csrf = await login(admin, mail_server.url, org.admin.email)
        row = await _team_row(admin, mail_server, member.id)
        assert '<td class="two-factor">on</td>' in row and "/totp-reset" in row
        url = f"{mail_server.url}/workbench/team/{member.id}/totp-reset"
        async with admin.post(url, data={"csrf_token": csrf}, allow_redirects=False) as resp:
            assert resp.status == 303
        async with member_http.get(f"{mail_server.url}/workbench", allow_redirects=False) as resp:
            assert resp.status == 302  # signed out at once
        row = await _team_row(admin, mail_server, member.id)
        assert '<td class="two-factor">off</td>' in row and "/totp-reset" not in row
        async with admin.post(url, data={"csrf_token": csrf}, allow_redirects=False) as resp:
            assert resp.status == 400 and "already off" in await resp.text()
        own = f"{mail_server.url}/workbench/team/{org.admin.id}/totp-reset"
        async with admin.post(own, data={"csrf_token": csrf}, allow_redirects=False) as resp:
            assert resp.status == 400 and "account page" in await resp.text()
        other = await make_org(mail_server.ctx.factory, slug="other")
        stranger, stranger_http = await _enabled_member(mail_server, other, "stranger@other.example.com", "agent")
        await stranger_http.close()
        async with admin.post(f"{mail_server.url}/workbench/team/{stranger.id}/totp-reset", data={"csrf_token": csrf},
                              allow_redirects=False) as resp:
            assert resp.status == 404
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as again:
        await login(again, mail_server.url, member.email)  # the password alone: no second step any more
    mail = body_text(await smtp_sink.wait_for(member.email))
    assert "turned off the two-factor login of lost.phone@acme.example.com" in mail and "set it up again" in mail
    async with mail_server.ctx.factory() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "reset_totp"))
        stored = await session.scalar(select(Agent.totp_secret).where(Agent.id == stranger.id))
    assert event is not None and event.actor_id == org.admin.id and event.subject_id == member.id
    assert stored  # the other organization's member keeps theirs

    # An administrator who is not the main one does not reset the main administrator's.
    main_http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with main_http:
        await login(main_http, mail_server.url, org.admin.email)
        await _enable(main_http, mail_server)
    deputy, deputy_http = await _enabled_member(mail_server, org, "deputy@acme.example.com", "admin")
    async with deputy_http:
        assert "/totp-reset" not in await _team_row(deputy_http, mail_server, org.admin.id)
        async with deputy_http.get(f"{mail_server.url}/workbench/team") as resp:
            csrf = csrf_from(await resp.text())
        async with deputy_http.post(f"{mail_server.url}/workbench/team/{org.admin.id}/totp-reset", data={"csrf_token": csrf},
                                    allow_redirects=False) as resp:
            assert resp.status == 403


async def test_the_operator_resets_the_only_main_administrators_two_factor_login(
    mail_server: Server, smtp_sink: SmtpSink, db_url: str, tmp_path: Path,
) -> None:
    """`incs admin reset-totp`, in its own process, for the one nobody in the organization can help."""
    org = await make_org(mail_server.ctx.factory, slug="solo")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, mail_server.url, org.admin.email)
        await _enable(http, mail_server)
    env = {**os.environ, "INCS_DATABASE__URL": db_url, "INCS_DATA_DIR": str(tmp_path / "cli"), "INCS_SECRET_KEY": SECRET,
           "INCS_CONFIG": str(tmp_path / "none.yaml"), "INCS_LOGGING__LEVEL": "WARNING"}

    async def cli(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "admin", "reset-totp", *args, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return int(proc.returncode or 0), out.decode()

    code, out = await cli("--org", "solo", "--email", org.admin.email.upper())
    assert code == 0 and "turned off" in out, out
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as again:
        await login(again, mail_server.url, org.admin.email)
    assert "The operator of INCS Support turned off" in body_text(await smtp_sink.wait_for(org.admin.email))
    # What the command refuses (`incs` prints a DomainError's text and exits 1), without a process each.
    for email, refusal in ((org.admin.email, InvalidInput), ("nobody@solo.example.com", NotFound)):
        with pytest.raises(refusal):
            async with transaction(mail_server.ctx.factory) as session:
                await reset_two_factor_by_operator(session=session, org_id=org.org.id, email=email)
