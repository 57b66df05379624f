"""The agents' channel: a conversation is mirrored as a thread; an agent's thread reply reaches the customer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.conversations.models import Message
from tests.channels.slack.conftest import SlackPoster, slack_settings
from tests.conftest import Server, start_server
from tests.fakes.slack_api import FakeSlack
from tests.utils.factories import make_org

AGENTS = "C0AGENTS1"


@pytest.fixture
async def mirrored(db_url: str, tmp_path: Path, fake_slack: FakeSlack) -> AsyncIterator[Server]:
    srv = await start_server(slack_settings(db_url, tmp_path / "data", fake_slack, agents_channel=AGENTS))
    yield srv
    await srv.stop()


async def test_thread_mirror_and_agent_reply(mirrored: Server, fake_slack: FakeSlack, http: object) -> None:
    demo = await make_org(mirrored.ctx.factory, slug="demo")
    fake_slack.users["U0AGENT01"] = {"id": "U0AGENT01", "profile": {"email": demo.admin.email.upper()}}
    fake_slack.users["U0STRANGE"] = {"id": "U0STRANGE", "profile": {"email": "nobody@example.com"}}
    poster = SlackPoster(http, mirrored.url)  # type: ignore[arg-type]
    assert (await poster.dm("U0CUST001", "Where is my order?", "1700000100.000100", "Ev100"))[0] == 200

    await fake_slack.wait_until(lambda c: c.args["channel"] == AGENTS and bool(c.args.get("thread_ts")))
    in_channel = [c for c in fake_slack.called("chat.postMessage") if c.args["channel"] == AGENTS]
    root = in_channel[0]
    assert "Conversation #" in root.args["text"] and not root.args.get("thread_ts")
    assert any("Where is my order?" in c.args["text"] for c in in_channel[1:])
    thread_ts = in_channel[1].args["thread_ts"]

    # A stranger's thread reply is refused with a visible note, not silently dropped.
    await poster.event(
        {
            "type": "message",
            "channel": AGENTS,
            "user": "U0STRANGE",
            "text": "hi",
            "ts": "1700000101.000100",
            "thread_ts": thread_ts,
            "channel_type": "channel",
        },
        "Ev101",
    )
    assert any("Not sent" in c.args["text"] for c in fake_slack.called("chat.postMessage"))

    await poster.event(
        {
            "type": "message",
            "channel": AGENTS,
            "user": "U0AGENT01",
            "text": "It ships today",
            "ts": "1700000102.000100",
            "thread_ts": thread_ts,
            "channel_type": "channel",
        },
        "Ev102",
    )
    await fake_slack.wait_until(lambda c: c.args["channel"] == "D0CUST001" and "It ships today" in c.args["text"])
    async with mirrored.ctx.factory() as session:
        replies = (await session.scalars(select(Message).where(Message.author_type == "agent"))).all()
    assert [(m.text, m.author_agent_id) for m in replies] == [("It ships today", demo.admin.id)]
    await asyncio.sleep(0.2)
    echoes = [
        c for c in fake_slack.called("chat.postMessage") if c.args["channel"] == AGENTS and "It ships today" in c.args["text"]
    ]
    assert echoes == []  # typed in Slack: not echoed back into the thread
