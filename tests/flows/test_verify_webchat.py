"""The identity check over web chat: bad input, SMTP outage, several devices of one customer, no code in any log."""

from __future__ import annotations

import logging
import re

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.core.conversations.models import Message
from bot.core.identity.models import VerificationChallenge
from tests.conftest import Server
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import SkipAhead, ask_code, bot_says, code_from_email, start_chat, verify_by_email
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor


async def _challenges(server: Server) -> int:
    async with server.ctx.factory() as session:
        return int(await session.scalar(select(func.count()).select_from(VerificationChallenge)) or 0)


async def test_malformed_address_gets_a_clear_message_and_no_code(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink
) -> None:
    visitor = Visitor(mail_server.url)
    try:
        await start_chat(visitor)
        await visitor.say("/verify")
        for bad in ("alice@", "not an address", "+12"):
            await visitor.say(bad)
            await bot_says(visitor, "No code was sent")
        assert await _challenges(mail_server) == 0 and smtp_sink.messages == []
        await visitor.say("alice@example.com")  # still waiting for an address after the mistakes
        await bot_says(visitor, "a***@example.com")
        code = await code_from_email(smtp_sink, "alice@example.com")
        await visitor.say(code + "1")
        await bot_says(visitor, "The code has 6 digits")
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        await visitor.say(wrong)
        await bot_says(visitor, "4 more times")
        await visitor.say(code)
        await bot_says(visitor, "identity is confirmed")
        await visitor.say("/verify alice@example.com")  # again at once: the resend limit answers, no second email
        await bot_says(visitor, "ask for a new one in")
        assert len(smtp_sink.to("alice@example.com")) == 1
    finally:
        await visitor.close()


async def test_smtp_outage_tells_user_to_retry_and_costs_nothing(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink
) -> None:
    visitor = Visitor(mail_server.url)
    try:
        await start_chat(visitor)
        smtp_sink.refuse_with = "451 4.3.0 mail system unavailable"
        await visitor.say("/verify alice@example.com")
        await bot_says(visitor, "try again later")
        assert await _challenges(mail_server) == 0  # the half-created challenge was undone
        smtp_sink.refuse_with = ""
        await verify_by_email(visitor, smtp_sink, "alice@example.com")  # at once: no resend wait, no daily count
    finally:
        await visitor.close()


async def test_second_browser_verifies_and_sees_full_history_and_live_replies(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink, http: aiohttp.ClientSession
) -> None:
    first, second = Visitor(mail_server.url), Visitor(mail_server.url)
    try:
        await start_chat(first)
        ack = await first.say("My parcel never arrived")
        conversation_id = ack["message"]["conversation_id"]
        await verify_by_email(first, smtp_sink, "alice@example.com")

        SkipAhead()(seconds=mail_server.ctx.settings.verification.resend_seconds)
        await start_chat(second)
        assert all("parcel" not in m["text"] for m in second.hello["history"])
        await ask_code(second, "alice@example.com")
        code = await code_from_email(smtp_sink, "alice@example.com", count=2)
        await second.say(code)
        history = await second.wait(lambda e: e["type"] == "history")
        assert any(m["text"] == "My parcel never arrived" for m in history["history"])
        assert all(code not in m["text"] for m in history["history"])

        csrf = await login(http, mail_server.url, org.admin.email)
        async with http.post(f"{mail_server.url}/workbench/conversations/{conversation_id}/reply",
                             data={"text": "Found it, delivering tomorrow.", "csrf_token": csrf},
                             headers={"Accept": "application/json"}) as resp:
            assert resp.status == 200
        for tab in (first, second):
            await tab.wait_message(lambda m: m["text"] == "Found it, delivering tomorrow.")
        await second.say("Thanks from my laptop")
        await first.wait_message(lambda m: m["text"] == "Thanks from my laptop")
    finally:
        await first.close()
        await second.close()


async def test_log_capture_of_a_full_run_contains_no_code(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture, http: aiohttp.ClientSession
) -> None:
    caplog.set_level(logging.DEBUG)
    visitor = Visitor(mail_server.url)
    codes = []
    try:
        await start_chat(visitor)
        await ask_code(visitor, "alice@example.com")
        codes.append(await code_from_email(smtp_sink, "alice@example.com"))
        await visitor.say(f"{(int(codes[0]) + 7) % 1_000_000:06d}")
        await bot_says(visitor, "not right")
        await visitor.say(codes[0])
        await bot_says(visitor, "identity is confirmed")
        ack = await visitor.say("hello again")
        await login(http, mail_server.url, org.admin.email)
        async with http.get(f"{mail_server.url}/workbench/conversations/{ack['message']['conversation_id']}") as resp:
            page = await resp.text()
        async with http.get(f"{mail_server.url}/metrics") as resp:
            metrics = await resp.text()
    finally:
        await visitor.close()
    # The fake SMTP server's own logger ("mail.log") shows what it received; that is the test's mailbox, not the product.
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert "verification code for challenge" in ours  # the capture saw the courier's own log line
    for code in codes:
        assert not re.search(rf"(?<!\d){code}(?!\d)", ours)
        assert code not in page and code not in metrics
    async with mail_server.ctx.factory() as session:
        texts = (await session.scalars(select(Message.text))).all()
        assert all(code not in t for t in texts for code in codes)
        assert "verified by email" in page
