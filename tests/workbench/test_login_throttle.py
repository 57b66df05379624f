"""Sign-in throttle: counted before the check (concurrency-safe), across processes via Redis, no lockout of others."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Server, make_settings, start_server
from tests.utils.factories import OrgWithAdmin, csrf_from, make_org

REDIS_URL = os.environ.get("INCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def attempt(base: str, email: str, password: str, source: str = "127.0.0.1") -> tuple[int, str]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/workbench/login") as resp:
            token = csrf_from(await resp.text())
        async with http.post(f"{base}/workbench/login", allow_redirects=False,
                             data={"email": email, "password": password, "csrf_token": token}) as resp:
            return resp.status, await resp.text()


async def test_sixty_concurrent_wrong_passwords_are_counted_before_the_check(server: Server, demo: OrgWithAdmin) -> None:
    results = await asyncio.gather(*(attempt(server.url, demo.admin.email, f"guess {i}") for i in range(60)))
    statuses = sorted(status for status, _ in results)
    limit = server.ctx.settings.workbench.login_attempts
    assert statuses == [401] * limit + [429] * (60 - limit)
    assert (await attempt(server.url, demo.admin.email, demo.password))[0] == 429


async def test_wrong_tries_from_one_address_do_not_lock_the_account_for_another(server: Server, demo: OrgWithAdmin) -> None:
    for _ in range(8):
        await attempt(server.url, demo.admin.email, "attacker guess", source="127.0.0.2")
    assert (await attempt(server.url, demo.admin.email, "still guessing", source="127.0.0.2"))[0] == 429
    status, _ = await attempt(server.url, demo.admin.email, demo.password, source="127.0.0.1")
    assert status == 302  # the real user, elsewhere, signs in


async def test_unknown_and_known_accounts_get_the_same_answers(server: Server, demo: OrgWithAdmin) -> None:
    known = [await attempt(server.url, demo.admin.email, "nope nope") for _ in range(6)]
    unknown = [await attempt(server.url, "nobody@example.com", "nope nope") for _ in range(6)]
    assert [s for s, _ in known] == [s for s, _ in unknown] == [401] * 5 + [429]
    assert ("Wrong email or password." in known[0][1]) and ("Wrong email or password." in unknown[0][1])


async def test_the_account_wide_limit_stops_a_spray_from_many_addresses(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path / "data", workbench={"login_attempts": 3, "login_account_attempts": 6})
    server = await start_server(settings)
    try:
        demo = await make_org(server.ctx.factory, slug="demo")
        statuses = [(await attempt(server.url, demo.admin.email, "guess", source=f"127.0.0.{i}"))[0] for i in range(2, 6)
                    for _ in range(2)]
        assert statuses == [401] * 6 + [429] * 2
    finally:
        await server.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_two_processes_share_one_count_through_redis(db_url: str, tmp_path: Path) -> None:
    redis = {"url": REDIS_URL, "namespace": f"t{secrets.token_hex(4)}"}
    first = await start_server(make_settings(db_url, tmp_path / "a", redis=redis))
    second = await start_server(make_settings(db_url, tmp_path / "b", redis=redis))
    try:
        demo = await make_org(first.ctx.factory, slug="demo")
        statuses = await asyncio.gather(*(attempt(srv.url, demo.admin.email, "guess") for srv in [first, second] * 6))
        assert sorted(s for s, _ in statuses) == [401] * 5 + [429] * 7
    finally:
        await first.stop()
        await second.stop()


async def test_a_cut_short_multipart_login_form_is_a_400(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=B0"}
    async with http.post(f"{server.url}/workbench/login", data=b'--B0\r\nContent-Disposition: form-data; name="email"\r\n\r\nx',
                         headers=headers) as resp:
        assert resp.status == 400
