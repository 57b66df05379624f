"""The identity check over Telegram against the fake Bot API: /verify, the code from a real SMTP server, and
the Telegram chat joins the customer who verified the same address on web chat."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import SmtpConfig
from bot.core.conversations.models import ChannelIdentity, Customer, Message
from tests.channels.telegram.conftest import fake, tg_settings  # noqa: F401 - fixture
from tests.conftest import Server, start_server
from tests.fakes.smtp import SmtpSink
from tests.fakes.telegram_api import FakeTelegram
from tests.flows.helpers import SkipAhead, code_from_email, start_chat, verify_by_email
from tests.utils.factories import make_org
from tests.utils.webchat import Visitor

CHAT = 5151


@pytest.fixture
async def tg_mail(db_url: str, tmp_path: Path, fake: FakeTelegram, smtp_sink: SmtpSink) -> AsyncIterator[Server]:  # noqa: F811
    settings = tg_settings(db_url, tmp_path / "data", fake)
    settings = settings.model_copy(update={"smtp": SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, timeout_seconds=2)})
    server = await start_server(settings)
    yield server
    await server.stop()


async def _bot_text(api: FakeTelegram, fragment: str) -> str:
    calls = await api.wait_for(lambda c: c.method == "sendMessage" and c.chat == str(CHAT) and fragment in str(c.params["text"]))
    return str(calls[-1].params["text"])


async def test_verify_over_telegram_links_the_chat_to_the_web_chat_customer(
    tg_mail: Server, fake: FakeTelegram, smtp_sink: SmtpSink  # noqa: F811
) -> None:
    await make_org(tg_mail.ctx.factory, slug="demo")
    visitor = Visitor(tg_mail.url)
    try:
        await start_chat(visitor)
        await visitor.say("Where is my refund?")
        await verify_by_email(visitor, smtp_sink, "dana@example.com")
    finally:
        await visitor.close()
    SkipAhead()(seconds=tg_mail.ctx.settings.verification.resend_seconds)

    fake.push(fake.message(CHAT, "/start"))
    await _bot_text(fake, "")
    fake.push(fake.message(CHAT, "/verify dana@example.com"))
    assert "d***@example.com" in await _bot_text(fake, "code is on its way")
    code = await code_from_email(smtp_sink, "dana@example.com", count=2)
    fake.push(fake.message(CHAT, f"{code[:3]} {code[3:]}"))
    await _bot_text(fake, "identity is confirmed")

    async with tg_mail.ctx.factory() as session:
        tg_identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.channel == "telegram", ChannelIdentity.external_id == str(CHAT))
        )
        web_identity = await session.scalar(select(ChannelIdentity).where(ChannelIdentity.channel == "webchat"))
        assert tg_identity is not None and web_identity is not None
        assert tg_identity.customer_id == web_identity.customer_id
        customer = await session.get(Customer, tg_identity.customer_id)
        assert customer is not None and customer.email == "dana@example.com"
        texts = (await session.scalars(select(Message.text).where(Message.identity_id == tg_identity.id))).all()
        assert all(not re.search(code, t.replace(" ", "")) for t in texts)
