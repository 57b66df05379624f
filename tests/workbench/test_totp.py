"""Optional TOTP two-factor login over real HTTP: set-up, the second login step, replay refused."""

from __future__ import annotations

import re
import time

import aiohttp
import pyotp
from sqlalchemy import select, update

from bot.core.orgs.models import Agent
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, csrf_from, login


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
