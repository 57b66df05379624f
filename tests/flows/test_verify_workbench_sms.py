"""Agents ask a customer to verify; admins see lockouts; codes by SMS through the webhook provider."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.core.delivery.sms import ConsoleSmsProvider, SmsError
from bot.core.orgs.agents import create_agent
from bot.core.storage.db import transaction
from tests.conftest import Server, free_port, make_settings, start_server
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import ask_code, bot_says, code_from_email, start_chat
from tests.utils.factories import PASSWORD, OrgWithAdmin, login, make_org
from tests.utils.webchat import Visitor


async def test_agent_asks_to_verify_and_sidebar_shows_method_and_time(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink, http: aiohttp.ClientSession
) -> None:
    visitor = Visitor(mail_server.url)
    try:
        await start_chat(visitor)
        ack = await visitor.say("I need to change my delivery address")
        conversation_id = ack["message"]["conversation_id"]
        csrf = await login(http, mail_server.url, org.admin.email)
        async with http.get(f"{mail_server.url}/workbench/conversations/{conversation_id}") as resp:
            assert "not verified" in await resp.text()
        async with http.post(f"{mail_server.url}/workbench/conversations/{conversation_id}/ask-verify",
                             data={"csrf_token": csrf}, allow_redirects=False) as resp:
            assert resp.status == 303
        prompt = await bot_says(visitor, "confirm who you are")
        assert ["Verify", "verify:start"] in prompt["buttons"]
        await visitor.send({"type": "button", "payload": "verify:start", "label": "Verify"})
        await bot_says(visitor, "type your email address")
        await visitor.say("bob@example.com")
        await visitor.say(await code_from_email(smtp_sink, "bob@example.com"))
        await bot_says(visitor, "identity is confirmed")
        async with http.get(f"{mail_server.url}/workbench/conversations/{conversation_id}") as resp:
            page = await resp.text()
        assert re.search(r"verified by email</span> <time datetime=\"\d{4}-\d\d-\d\dT", page)
        async with http.post(f"{mail_server.url}/workbench/conversations/999999/ask-verify", data={"csrf_token": csrf}) as resp:
            assert resp.status == 404
    finally:
        await visitor.close()


async def test_lockouts_are_listed_for_admins_only_and_raise_a_security_event(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink, http: aiohttp.ClientSession
) -> None:
    visitor = Visitor(mail_server.url)
    try:
        await start_chat(visitor)
        await ask_code(visitor, "carol@example.com")
        code = await code_from_email(smtp_sink, "carol@example.com")
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for _ in range(4):
            await visitor.say(wrong)
            await bot_says(visitor, "not right")
        await visitor.say(wrong)
        await bot_says(visitor, "verification is paused until")
        await visitor.say(code)
        await bot_says(visitor, "verification is paused until")  # the right code is refused during the lock
    finally:
        await visitor.close()
    csrf = await login(http, mail_server.url, org.admin.email)
    async with http.get(f"{mail_server.url}/workbench/verification/locks") as resp:
        page = await resp.text()
    # The locked identity is shown as the customer (not "channel identity #2"); one identity's wrong codes lock that
    # identity, not the address (so the address is not listed).
    assert resp.status == 200 and "Visitor #" in page and "channel identity #" not in page
    assert "c***@example.com" not in page
    for lock_id in re.findall(r'data-lock="(\d+)"', page):
        async with http.post(f"{mail_server.url}/workbench/verification/locks/{lock_id}/unlock", data={"csrf_token": csrf},
                             allow_redirects=False) as resp:
            assert resp.status == 303
    async with http.get(f"{mail_server.url}/workbench/verification/locks") as resp:
        assert "No identity check is locked right now." in await resp.text()
    async with transaction(mail_server.ctx.factory) as session:
        await create_agent(session=session, org_id=org.org.id, email="agent@demo.example.com", password=PASSWORD, role="agent")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        await login(other, mail_server.url, "agent@demo.example.com")
        async with other.get(f"{mail_server.url}/workbench/verification/locks") as resp:
            assert resp.status == 403
    if importlib.util.find_spec("bot.core.notifications.models") is not None:
        from bot.core.notifications.models import NotificationEvent

        async with mail_server.ctx.factory() as session:
            kinds = (await session.scalars(select(NotificationEvent.kind))).all()
        assert "identity_check_failures" in kinds


@pytest.fixture
async def sms_gateway() -> AsyncIterator[tuple[str, list[dict[str, Any]], asyncio.Event]]:
    """A fake SMS provider's HTTP endpoint on loopback, recording what it is asked to send."""
    received: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        if request.headers.get("X-Api-Key") != "sms-secret":
            return web.json_response({"error": "auth"}, status=401)
        received.append(await request.json())
        arrived.set()
        return web.json_response({"id": len(received)})

    app = web.Application()
    app.router.add_post("/send", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/send", received, arrived
    await runner.cleanup()


async def test_code_by_sms_through_the_webhook_provider(
    db_url: str, tmp_path: Path, sms_gateway: tuple[str, list[dict[str, Any]], asyncio.Event]
) -> None:
    url, received, arrived = sms_gateway
    sms = {"provider": "webhook", "webhook_url": url, "auth_header": "X-Api-Key", "auth_token": "sms-secret"}
    settings = make_settings(db_url, tmp_path / "data", sms=sms)
    server = await start_server(settings)
    visitor = Visitor(server.url)
    try:
        await make_org(server.ctx.factory, slug="demo")
        await start_chat(visitor)
        await visitor.say("/verify +86 138 0000 0000")
        await bot_says(visitor, "+86****00")
        await asyncio.wait_for(arrived.wait(), 5)
        assert received and received[0]["to"] == "+8613800000000"
        code = re.search(r"\b(\d{6})\b", received[0]["text"]).group(1)  # type: ignore[union-attr]
        await visitor.say(code)
        await bot_says(visitor, "identity is confirmed")
    finally:
        await visitor.close()
        await server.stop()


async def test_console_sms_provider_prints_outside_the_log_and_refuses_in_production(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG):
        await ConsoleSmsProvider(production=False).send("+8613800000000", "Your code is 123456")
    assert "123456" in capsys.readouterr().out  # the developer sees it on the terminal
    assert "123456" not in caplog.text  # but it never enters the log stream
    with pytest.raises(SmsError):
        await ConsoleSmsProvider(production=True).send("+8613800000000", "hello")
