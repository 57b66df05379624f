"""A Telegram customer reaches the workbench by polling and by webhook; the agent's reply reaches Telegram."""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from bot.core.conversations.models import Conversation, Message
from tests.channels.telegram.conftest import inbound, wait_rows
from tests.conftest import Server
from tests.fakes.telegram_api import FakeTelegram
from tests.utils.factories import login, make_org

CHAT = 4242


async def _customer_session(fake: FakeTelegram, send: object) -> None:
    await send(fake.message(CHAT, "/start org_acme"))  # type: ignore[operator]
    await send(fake.message(CHAT, "My <b>parcel</b> & box are late"))  # type: ignore[operator]
    photo = fake.add_file(b"\xff\xd8\xff fake jpeg")
    await send(
        fake.message(
            CHAT,
            None,
            photo=[{"file_id": photo, "file_unique_id": "u1", "width": 9, "height": 9, "file_size": 16}],  # type: ignore[operator]
            caption="the label",
        )
    )
    await send(fake.message(CHAT, None, location={"latitude": 48.85, "longitude": 2.35}))  # type: ignore[operator]


async def _agent_replies(server: Server, fake: FakeTelegram, email: str) -> None:
    rows = await wait_rows(server, inbound(CHAT), count=4)
    assert [m.kind for m in rows] == ["command", "text", "photo", "location"]
    assert rows[1].text == "My <b>parcel</b> & box are late"
    assert rows[2].attachment_id and rows[2].text == "the label"
    conversation_id = rows[0].conversation_id
    async with server.ctx.factory() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        org_id = conversation.org_id
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, server.url, email)
        async with http.get(f"{server.url}/workbench/conversations/{conversation_id}") as resp:
            page = await resp.text()
        assert "My &lt;b&gt;parcel&lt;/b&gt; &amp; box are late" in page and "48.85000" in page
        async with http.post(
            f"{server.url}/workbench/conversations/{conversation_id}/reply",
            data={"text": "Sorry <3 it ships today", "csrf_token": csrf},
            headers={"Accept": "application/json"},
        ) as resp:
            assert resp.status == 200, await resp.text()
    calls = await fake.wait_for(lambda c: c.method == "sendMessage" and "ships today" in str(c.params.get("text")))
    assert calls[0].chat == str(CHAT)
    assert calls[0].params["text"] == "Sorry &lt;3 it ships today" and calls[0].params["parse_mode"] == "HTML"
    # The brand card of the org chosen by the deep link, bold and escaped.
    card = [c for c in fake.sent(CHAT) if str(c.params.get("text", "")).startswith("<b>")]
    assert card and card[0].params["text"].startswith("<b>Acme &amp; Co</b>")
    assert org_id != 0


async def test_polling_customer_reaches_workbench_and_reply_reaches_telegram(tg_start: object, fake: FakeTelegram) -> None:
    server = await tg_start()  # type: ignore[operator]
    acme = await make_org(server.ctx.factory, slug="acme", name="Acme & Co")
    await make_org(server.ctx.factory, slug="demo")

    async def push(update: dict[str, object]) -> None:
        fake.push(update)

    await _customer_session(fake, push)
    await _agent_replies(server, fake, acme.admin.email)
    assert any(c.method == "deleteWebhook" for c in fake.calls)
    # the photo was fetched with getFile and stored
    assert any(c.method == "getFile" for c in fake.calls)


async def test_webhook_customer_reaches_workbench_and_reply_reaches_telegram(tg_start: object, fake: FakeTelegram) -> None:
    server = await tg_start(mode="webhook")  # type: ignore[operator]
    acme = await make_org(server.ctx.factory, slug="acme", name="Acme & Co")
    await make_org(server.ctx.factory, slug="demo")
    await fake.wait_for(lambda c: c.method == "setWebhook")
    assert fake.webhook == {"url": "http://127.0.0.1:8080/telegram/webhook", "secret_token": "s3cret-hook"}
    fake.webhook["url"] = f"{server.url}/telegram/webhook"  # the public URL is a proxy in production

    async def deliver(update: dict[str, object]) -> None:
        body = fake.push(update)
        fake.updates.remove(body)
        assert await fake.deliver(body) == 200

    await _customer_session(fake, deliver)
    await _agent_replies(server, fake, acme.admin.email)


async def test_webhook_refuses_wrong_secret_and_survives_junk(tg_start: object, fake: FakeTelegram, caplog: object) -> None:
    server = await tg_start(mode="webhook")  # type: ignore[operator]
    demo = await make_org(server.ctx.factory, slug="demo")
    url = f"{server.url}/telegram/webhook"
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-hook"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}) as resp:
            assert resp.status == 401
        async with http.post(url, json={"update_id": 1}) as resp:
            assert resp.status == 401
        async with http.post(url, data=b"{not json", headers=good) as resp:
            assert resp.status == 400
        async with http.post(url, json={"update_id": 2, "message_reaction_count": {"x": 1}}, headers=good) as resp:
            assert resp.status == 200  # an unknown update type is acknowledged and ignored
        async with http.post(url, json={"update_id": 3, "message": {"message_id": "x"}}, headers=good) as resp:
            assert resp.status == 200  # unreadable: a retry would not help
        group = fake.message(-500, "hello group", chat_type="group")
        async with http.post(url, json={"update_id": 4, **group}, headers=good) as resp:
            assert resp.status == 200
        text = {"update_id": 5, **fake.message(77, "only once")}
        for _ in range(2):
            async with http.post(url, json=text, headers=good) as resp:
                assert resp.status == 200
        edit = fake.message(77, "only once, edited")
        edit["message"]["message_id"] = text["message"]["message_id"]
        async with http.post(url, json={"update_id": 6, "edited_message": edit["message"]}, headers=good) as resp:
            assert resp.status == 200
    rows = await wait_rows(server, inbound(77))
    assert len(rows) == 1 and rows[0].text == "only once, edited" and rows[0].edited
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # the workbench marks it edited
        await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench/conversations/{rows[0].conversation_id}") as resp:
            assert 'class="edited"' in await resp.text()
    async with server.ctx.factory() as session:
        assert (await session.scalar(select(Message).where(Message.text == "hello group"))) is None
    logged = caplog.text  # type: ignore[attr-defined]
    assert "malformed JSON" in logged and "wrong secret" in logged and "already processed" in logged
