"""Bad input to the agent tools and the widget endpoints gets a 4xx and no half-written row; another
organization's ids are 404; nothing is logged as an error."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.core.canned_replies.models import CannedReply
from bot.core.triage.models import ConversationLabel, ConversationTriage
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, login, make_org
from tests.utils.webchat import Visitor


async def test_bad_input_gets_4xx_and_other_organizations_get_404(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    visitor = await Visitor(server.url).open()
    ack = await visitor.say("hello")
    conversation_id = ack["message"]["conversation_id"]
    other = await make_org(server.ctx.factory, slug="other", name="Other")
    csrf = await login(http, server.url, demo.admin.email)
    base = f"{server.url}/workbench/conversations/{conversation_id}"
    posts = [
        (f"{base}/priority", {"priority": "asap"}, 400),
        (f"{base}/labels", {"label": "<script>"}, 400),
        (f"{base}/labels", {"label": "x" * 41}, 400),
        (f"{base}/snooze", {"until": "tomorrow"}, 400),
        (f"{base}/snooze", {"until": "2001-01-01T10:00"}, 400),
        (f"{base}/snooze", {"until": "2099-01-01T10:00", "tz_offset": "x"}, 400),
        (f"{base}/customer", {"name": "A", "email": "nope", "phone": ""}, 400),
        (f"{base}/customer", {"name": "A", "email": "", "phone": "12"}, 400),
        (f"{server.url}/workbench/canned", {"shortcut": "bad shortcut!", "text": "x"}, 400),
        (f"{server.url}/workbench/canned", {"shortcut": "ok", "text": ""}, 400),
        (f"{server.url}/workbench/canned/abc/delete", {}, 404),
        (f"{server.url}/workbench/canned/999/delete", {}, 404),
        (f"{server.url}/workbench/widget", {"brand_color": "red"}, 400),
        (f"{server.url}/workbench/search/views", {"name": "", "q": "x"}, 400),
        (f"{server.url}/workbench/verification/locks/999/unlock", {}, 404),
        (f"{server.url}/workbench/conversations/999999/labels", {"label": "x"}, 404),
    ]
    for url, data, status in posts:
        async with http.post(url, data={**data, "csrf_token": csrf}, allow_redirects=False) as resp:
            assert resp.status == status, (url, data, resp.status)
    async with http.post(f"{server.url}/workbench/canned", data={"shortcut": "hi", "text": "Hi!", "csrf_token": csrf},
                         allow_redirects=False) as resp:
        assert resp.status == 303
    async with http.post(f"{server.url}/workbench/canned", data={"shortcut": "hi", "text": "Again", "csrf_token": csrf}) as resp:
        assert resp.status == 409
    for url, status in [(f"{server.url}/workbench/search?q={'x' * 300}", 400), (f"{server.url}/workbench/search?assignee=me", 400),
                        (f"{server.url}/workbench/inbox/rows/abc", 404), (f"{server.url}/workbench/inbox/rows/999999", 404)]:
        async with http.get(url) as resp:
            assert resp.status == status, url
    # Another organization's agent sees none of it.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as stranger:
        other_csrf = await login(stranger, server.url, other.admin.email)
        async with stranger.get(f"{server.url}/workbench/inbox/rows/{conversation_id}") as resp:
            assert resp.status == 404
        for action, data in [("priority", {"priority": "high"}), ("labels", {"label": "x"}), ("customer", {"name": "Mallory"}),
                             ("snooze", {"until": "2099-01-01T10:00"}), ("typing", {})]:
            async with stranger.post(f"{base}/{action}", data={**data, "csrf_token": other_csrf}) as resp:
                assert resp.status == 404, action
    # The visitor's pre-chat form: junk is refused politely.
    async with visitor.http.post(f"{server.url}/chat/prechat", data=b"[1, 2") as resp:
        assert resp.status == 400
    async with visitor.http.post(f"{server.url}/chat/prechat", json={"name": "Lin", "email": "not-an-address"}) as resp:
        assert resp.status == 400
    await visitor.close()
    async with server.ctx.factory() as session:
        assert await session.scalar(select(func.count()).select_from(ConversationLabel)) == 0
        assert await session.scalar(select(func.count()).select_from(ConversationTriage)) == 0
        assert await session.scalar(select(func.count()).select_from(CannedReply)) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_malformed_or_overlarge_id_in_any_workbench_path_is_not_found(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession
) -> None:
    """Every id in a workbench path goes through one parser (workbench/params.py): letters, zero and a number no
    row can have (it overflowed the database's integer: a 500) are all a plain 404."""
    from tests.utils.routes import app_routes

    csrf = await login(http, server.url, demo.admin.email)
    routes = [r for r in app_routes(server.app)
              if r.template.startswith("/workbench/") and r.params and all(p.endswith("_id") for p in r.params)]
    assert len(routes) >= 15
    for bad in ("abc", "0", "99999999999999999999"):
        for route in routes:
            data = {"csrf_token": csrf} if route.method == "POST" else None
            async with http.request(route.method, server.url + route.url({p: bad for p in route.params}), data=data,
                                    allow_redirects=False, headers={"Accept": "application/json"}) as resp:
                assert resp.status in (403, 404), (route, bad, resp.status)
