"""The identity check end to end over web chat, with the code read from a real SMTP server on loopback."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.conversations.models import Customer
from tests.conftest import Server
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import bot_says, code_from_email, start_chat
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor


async def test_email_code_verifies_web_chat_visitor(mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink) -> None:
    visitor = Visitor(mail_server.url)
    try:
        await start_chat(visitor)
        await visitor.say("/verify")
        await bot_says(visitor, "type your email address")
        await visitor.say("Alice@Example.com")
        await bot_says(visitor, "a***@example.com")
        code = await code_from_email(smtp_sink, "alice@example.com")
        ack = await visitor.say(code[:3] + " " + code[3:])
        assert ack["message"]["text"] == "••••••"
        await bot_says(visitor, "identity is confirmed")
    finally:
        await visitor.close()
    async with mail_server.ctx.factory() as session:
        customer = await session.scalar(select(Customer).where(Customer.email == "alice@example.com"))
        assert customer is not None and customer.verified_at is not None and customer.verification_method == "email"


async def test_verify_keyword_and_cancel(mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink) -> None:
    visitor = Visitor(mail_server.url)
    try:
        await start_chat(visitor)
        await visitor.say("verify")
        prompt = await bot_says(visitor, "type your email address")
        assert ["Cancel", "verify:cancel"] in prompt["buttons"]
        await visitor.say("cancel")
        await bot_says(visitor, "Verification cancelled")
        ack = await visitor.say("alice@example.com")  # no longer awaited: ordinary chat, no code sent
        assert ack["message"]["text"] == "alice@example.com"
        assert smtp_sink.messages == []
    finally:
        await visitor.close()


async def test_verify_as_the_very_first_message_is_greeted_and_answered(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink
) -> None:
    visitor = Visitor(mail_server.url)
    try:
        await visitor.open()
        await visitor.say("verify")
        await visitor.wait_message(lambda m: m.get("reply_kind") == "brand_card")
        # The address question comes in the same breath as the greeting: the command is not lost.
        await visitor.wait_message(lambda m: "email" in m["text"].lower() and bool(m.get("buttons")))
    finally:
        await visitor.close()
