"""A customer with data in every place personal data sits (web chat over real HTTP, verified by email,
an agent's reply and view, a file, a wrong code, mirrors in Telegram topics and Slack threads), and the scan
that looks for their traces in every table of Base.metadata, the attachments folder and the outbox."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy import select, update

import bot.all_models  # noqa: F401
from bot.channels.slack.models import SlackThread
from bot.channels.telegram.models import TelegramChat, TelegramTopic, TelegramTopicMessage
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer, Message
from bot.core.storage.base import Base
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import bot_says, code_from_email, start_chat
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor


@dataclass
class Person:
    tag: str
    email: str
    customer_id: int = 0
    conversation_id: int = 0
    markers: list[str] = field(default_factory=list)
    file_bytes: bytes = b""


async def populate(server: Server, org: OrgWithAdmin, sink: SmtpSink, tag: str, telegram_id: int) -> Person:
    person = Person(tag=tag, email=f"{tag}-mail@example.com")
    visitor = Visitor(server.url)
    try:
        await start_chat(visitor)
        ack = await visitor.say(f"{tag}-secret-text my order is late")
        person.conversation_id = ack["message"]["conversation_id"]
        person.file_bytes = f"{tag.upper()}-FILE-BYTES".encode()
        status, _ = await visitor.upload(f"{tag}-passport.txt", person.file_bytes, "text/plain")
        assert status == 200
        await visitor.say(f"/verify {person.email}")
        code = await code_from_email(sink, person.email)
        await visitor.say(f"{(int(code) + 1) % 1_000_000:06d}")  # one wrong code: a verification lock row with the address
        await bot_says(visitor, "more times")
        await visitor.say(code)
        await bot_says(visitor, "identity is confirmed")
    finally:
        await visitor.close()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, server.url, org.admin.email)
        async with http.get(f"{server.url}/workbench/conversations/{person.conversation_id}") as resp:
            assert resp.status == 200  # audited view
        async with http.post(f"{server.url}/workbench/conversations/{person.conversation_id}/reply",
                             data={"text": f"{tag}-agent-reply-text", "csrf_token": csrf},
                             headers={"Accept": "application/json"}) as resp:
            assert resp.status == 200
    async with transaction(server.ctx.factory) as session:
        conv = await session.get(Conversation, person.conversation_id)
        assert conv is not None
        person.customer_id = conv.customer_id
        await session.execute(update(Customer).where(Customer.id == conv.customer_id)
                              .values(name=f"{tag.title()} Markername", phone=f"+1555{telegram_id}"))
        web_id = await session.scalar(select(ChannelIdentity.external_id).where(ChannelIdentity.customer_id == conv.customer_id))
        tg = ChannelIdentity(org_id=org.org.id, customer_id=conv.customer_id, channel="telegram", external_id=str(telegram_id),
                             display_name=f"{tag}-tg-name")
        session.add_all([tg, TelegramChat(chat_id=telegram_id, org_id=org.org.id),
                         TelegramTopic(org_id=org.org.id, conversation_id=conv.id, chat_id=-100, thread_id=telegram_id),
                         SlackThread(org_id=org.org.id, conversation_id=conv.id, channel="CAGENTS", thread_ts=f"{telegram_id}.0001")])
        first = await session.scalar(select(Message.id).where(Message.conversation_id == conv.id).limit(1))
        session.add(TelegramTopicMessage(message_id=first, chat_id=-100, topic_message_id=telegram_id))
    person.markers = [person.email, f"{tag.title()} Markername", f"+1555{telegram_id}", str(web_id), str(telegram_id),
                      f"{tag}-secret-text", f"{tag}-agent-reply-text", f"{tag}-passport", f"{tag}-tg-name"]
    return person


async def everything_stored(server: Server) -> str:
    """Every row of every table (from the metadata, not a hand list), as text."""
    parts: list[str] = []
    async with server.ctx.factory() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                parts.append(f"{table.name}: " + json.dumps([str(v) for v in row], ensure_ascii=False))
    return "\n".join(parts)


def files_under(data_dir: Path) -> list[bytes]:
    root = data_dir / "attachments"
    return [p.read_bytes() for p in root.rglob("*") if p.is_file()] if root.exists() else []
