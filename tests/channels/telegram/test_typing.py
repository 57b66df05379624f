"""An agent typing a reply shows Telegram's "typing…" to the customer (sendChatAction)."""

from __future__ import annotations

import aiohttp

from tests.channels.telegram.conftest import inbound, wait_rows
from tests.fakes.telegram_api import FakeTelegram
from tests.utils.factories import login, make_org

CHAT = 5151


async def test_agent_typing_sends_chat_action_typing(tg_start: object, fake: FakeTelegram) -> None:
    server = await tg_start()  # type: ignore[operator]
    demo = await make_org(server.ctx.factory, slug="demo")
    fake.push(fake.message(CHAT, "hello, anyone there?"))
    rows = await wait_rows(server, inbound(CHAT))
    conversation_id = rows[0].conversation_id
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, server.url, demo.admin.email)
        async with http.post(f"{server.url}/workbench/conversations/{conversation_id}/typing",
                             headers={"X-CSRF-Token": csrf, "Accept": "application/json"}) as resp:
            assert resp.status == 200
    calls = await fake.wait_for(lambda c: c.method == "sendChatAction")
    assert calls[0].chat == str(CHAT) and calls[0].params["action"] == "typing"
