"""Web chat features: every tab live, history on reload, location, help and language, the only cookie."""

from __future__ import annotations

import aiohttp

from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor


async def _agent_reply(http: aiohttp.ClientSession, server: Server, csrf: str, conversation_id: int, text: str) -> int:
    async with http.post(
        f"{server.url}/workbench/conversations/{conversation_id}/reply",
        data={"text": text, "csrf_token": csrf},
        headers={"Accept": "application/json"},
    ) as resp:
        assert resp.status == 200
        return int((await resp.json())["message"]["id"])


async def test_every_open_tab_gets_new_messages_and_history_survives_reload(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession
) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    first = await Visitor(server.url, http=aiohttp.ClientSession(cookie_jar=jar)).open()
    ack = await first.say("tab one speaking")
    second = await Visitor(server.url, http=aiohttp.ClientSession(cookie_jar=jar)).open()
    try:
        # The second tab of the same visitor opens with the history, and sees the first tab's new messages live.
        assert any(m["text"] == "tab one speaking" for m in second.hello["history"])
        await first.say("and again")
        assert (await second.wait_message(lambda m: m["text"] == "and again"))["direction"] == "in"
        csrf = await login(http, server.url, demo.admin.email)
        reply_id = await _agent_reply(http, server, csrf, ack["message"]["conversation_id"], "to every tab")
        for tab in (first, second):
            assert (await tab.wait_message(lambda m: m["id"] == reply_id))["text"] == "to every tab"
    finally:
        await second.close()
        await first.http.close()
    reloaded = await Visitor(server.url, http=aiohttp.ClientSession(cookie_jar=jar)).open()
    try:
        texts = [m["text"] for m in reloaded.hello["history"]]
        assert texts.index("tab one speaking") < texts.index("and again") < texts.index("to every tab")
        brand = next(m for m in reloaded.hello["history"] if m.get("reply_kind") == "brand_card")
        assert brand["data"]["brand"] == "Demo Company"  # buttons and cards survive the reload
    finally:
        await reloaded.close()


async def test_location_is_stored_and_shown_to_the_agent(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    visitor = await Visitor(server.url).open()
    try:
        ack = await visitor.send({"type": "location", "latitude": 31.2304, "longitude": 121.4737})
        assert ack["type"] == "ack" and ack["message"]["kind"] == "location"
    finally:
        await visitor.close()
    await login(http, server.url, demo.admin.email)
    async with http.get(f"{server.url}/workbench/conversations/{ack['message']['conversation_id']}") as resp:
        assert "31.23040, 121.47370" in await resp.text()


async def test_help_and_language_switch(server: Server, demo: OrgWithAdmin) -> None:
    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("hello")
        await visitor.say("help")
        assert "language" in (await visitor.wait_message(lambda m: "Commands" in m["text"]))["text"]
        await visitor.say("language")
        choice = await visitor.wait_message(lambda m: bool(m.get("buttons")) and "language" in m["text"].lower())
        assert ["中文", "lang:zh"] in choice["buttons"]
        await visitor.send({"type": "button", "label": "中文", "payload": "lang:zh"})
        await visitor.wait_message(lambda m: m["text"] == "语言已设置为中文。")
        await visitor.say("help")
        await visitor.wait_message(lambda m: m["text"].startswith("请写下您的问题"))
    finally:
        await visitor.close()


async def test_consent_is_recorded_against_the_policy_version(server: Server, demo: OrgWithAdmin) -> None:
    from sqlalchemy import select

    from bot.core.conversations.models import Consent

    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("hi")
        first = await visitor.wait_message(lambda m: m.get("reply_kind") == "notice")
        await visitor.send({"type": "button", "label": "No, thanks", "payload": first["buttons"][1][1]})
        declined = await visitor.wait_message(lambda m: m["text"].startswith("Understood"))
        assert "type start" in declined["text"]  # and that is true: start shows the notice again
        await visitor.say("start")
        second = await visitor.wait_message(lambda m: m.get("reply_kind") == "notice")
        await visitor.send({"type": "button", "label": "I agree", "payload": second["buttons"][0][1]})
        await visitor.wait_message(lambda m: "consent is recorded" in m["text"])
        await visitor.send({"type": "button", "label": "No, thanks", "payload": first["buttons"][1][1]})  # an old notice
        await visitor.wait_message(lambda m: "changes nothing" in m["text"])
    finally:
        await visitor.close()
    async with server.ctx.factory() as session:
        rows = (await session.scalars(select(Consent).order_by(Consent.id))).all()
    assert [(c.granted, c.policy_version, c.channel) for c in rows] == [
        (False, "2023-08-17", "webchat"),
        (True, "2023-08-17", "webchat"),
    ]


async def test_web_chat_and_workbench_set_only_their_documented_cookies(server: Server, demo: OrgWithAdmin) -> None:
    names: set[str] = set()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path in ("/chat", "/chat/ws", "/workbench/login"):
            async with http.get(server.url + path) as resp:
                names.update(c.split("=", 1)[0] for c in resp.headers.getall("Set-Cookie", []))
        await login(http, server.url, demo.admin.email)
        names.update(c.key for c in http.cookie_jar)
    assert names <= {"incs_visitor", "incs_login_csrf", "incs_session"}
