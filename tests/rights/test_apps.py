"""Third-party apps: an admin defines them, the customer turns them on and off in the chat (verified, audited, at
once), the workbench sidebar shows the state, and a deletion sends a notice to each authorized app (webhook and
email through the outbox) that the app acknowledges by its link; the request page tracks it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.core.orgs.models import AuditEvent
from bot.core.rights.models import AppAuthorization
from bot.core.rights.sweeps import purge_final_notices
from tests.conftest import Server, free_port
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import bot_says, code_from_email, start_chat
from tests.rights.journey import NUMBER, Agent, press
from tests.rights.people import everything_stored
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor

EMAIL = "gus@example.com"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


async def test_apps_toggled_in_chat_and_notified_of_deletion(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    hook, received = receiver
    async with Agent(mail_server, org.admin.email) as agent:
        for name, where in (("CRM Sync", {"webhook": hook}), ("Mailer", {"email": "privacy@mailer.example.com"}),
                            ("Ads", {"webhook": hook})):
            async with agent.http.post(f"{mail_server.url}/workbench/rights/apps", allow_redirects=False, data={
                    "csrf_token": agent.csrf, "name": name, "purpose": f"{name} purpose", "categories": "name, email", **where}) as resp:
                assert resp.status == 303
        async with agent.http.post(f"{mail_server.url}/workbench/rights/apps", data={"csrf_token": agent.csrf, "name": "x"}) as resp:
            assert resp.status == 400  # neither webhook nor email

    visitor = Visitor(mail_server.url)
    try:
        await start_chat(visitor)
        ack = await visitor.say("gus-app-text hello")
        conversation_id = ack["message"]["conversation_id"]
        await visitor.say("privacy")
        await press(visitor, "privacy:authorization")
        listing = await bot_says(visitor, "Third-party apps")
        assert "CRM Sync (off)" in listing["text"]
        payloads = {label: payload for label, payload in listing["buttons"]}
        await press(visitor, payloads["Turn on CRM Sync"])
        await bot_says(visitor, "need to confirm who you are")
        await visitor.say(EMAIL)
        await visitor.say(await code_from_email(smtp_sink, EMAIL))
        await bot_says(visitor, "identity is confirmed")
        await press(visitor, "privacy:go")
        await bot_says(visitor, "CRM Sync is now authorized")
        for label in ("Turn on Mailer", "Turn on Ads"):
            await press(visitor, payloads[label])
            await bot_says(visitor, f"{label[8:]} is now authorized")
        await press(visitor, payloads["Turn on Ads"].replace(":on", ":off"))
        await bot_says(visitor, "Ads is now off")
        async with mail_server.ctx.factory() as session:
            assert await session.scalar(select(func.count()).where(AuditEvent.action == "app_revoked")) == 1
        async with Agent(mail_server, org.admin.email) as agent:
            async with agent.http.get(f"{mail_server.url}/workbench/conversations/{conversation_id}") as resp:
                sidebar = (await resp.text()).split('id="app-authorizations"')[1].split("</ul>")[0]
            assert re.search(r"CRM Sync: <span[^>]*>authorized", sidebar) and re.search(r"Ads: <span[^>]*>off", sidebar)

            await visitor.say("privacy")
            await press(visitor, "privacy:delete:no_consent")
            number = NUMBER.search((await bot_says(visitor, "is registered"))["text"])
            assert number
            request_id = await agent.request_id(number.group(0))
            assert (await agent.act(request_id, "erase"))[0] == 200
            told = await bot_says(visitor, "has been deleted")
            assert "We asked CRM Sync, Mailer to delete" in told["text"]
            async with asyncio.timeout(10):
                while not received:  # noqa: ASYNC110 - the outbox delivers on its own schedule
                    await asyncio.sleep(0.02)
            notice = received[0]
            assert notice["app"] == "CRM Sync" and len(notice["subject"]) == 32 and EMAIL not in str(notice)
            mail = await smtp_sink.wait_for("privacy@mailer.example.com")
            assert "delete the personal data of subject" in str(mail)
            page = (await agent.page(request_id))[1]
            assert page.count(">sent<") == 2
            ack_url = notice["acknowledge_url"].replace(mail_server.ctx.settings.server.public_url, mail_server.url)
            async with agent.http.get(ack_url + "0") as resp:
                assert resp.status == 404  # forged
            async with agent.http.get(ack_url) as resp:
                assert resp.status == 200
            page = (await agent.page(request_id))[1]
            assert page.count(">acknowledged<") == 1 and page.count(">sent<") == 1
    finally:
        await visitor.close()
    while await purge_final_notices(factory=mail_server.ctx.factory) == 0:  # noqa: ASYNC110 - until the outbox sent it
        await asyncio.sleep(0.02)
    stored = await everything_stored(mail_server)
    assert EMAIL not in stored and "gus-app-text" not in stored
    async with mail_server.ctx.factory() as session:
        assert await session.scalar(select(func.count()).select_from(AppAuthorization)) == 0
