"""A visitor coming back (the chat page, the socket's hello with the history) and an agent watching a conversation
only read: on PostgreSQL their look-ups run without a transaction around them (storage.db.read_session), so each
costs its statement and not a BEGIN and a ROLLBACK as well. What they read is what they read before."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import pytest

from tests.conftest import Server
from tests.utils.db import transactions_sent
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor


@contextmanager
def requests_transactions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """BEGIN / COMMIT / ROLLBACK sent to PostgreSQL from the request handlers (tasks without a name of their own:
    the ingest writer, the dispatcher and the sweeps name theirs)."""
    with transactions_sent(monkeypatch, lambda name: name.startswith("Task-")) as sent:
        yield sent


async def test_a_returning_visitor_and_a_watching_agent_read_without_transactions(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await Visitor(server.url).open()
    tab = None
    try:
        ack = await first.say("Hello, my order is late")
        await first.wait_message(lambda m: m.get("reply_kind") == "notice")  # the greetings are delivered
        await login(http, server.url, demo.admin.email)
        with requests_transactions(monkeypatch) as sent:
            tab = await Visitor(server.url, http=first.http).open()  # the same visitor (cookie): page and hello
            async with http.ws_connect(f"{server.url}/workbench/ws") as agent:
                await agent.send_json({"type": "watch", "conversation_id": ack["message"]["conversation_id"]})
                watching = await agent.receive_json(timeout=20)
                while watching.get("type") != "watching":
                    watching = await agent.receive_json(timeout=20)
        assert watching["conversation_id"] == ack["message"]["conversation_id"]
        history = tab.hello["history"]
        assert history[0]["text"] == "Hello, my order is late" and history[0]["id"] == ack["message"]["id"]
        notice = next(m for m in history if m.get("reply_kind") == "notice")
        assert ["I agree", "consent:yes:0"] in notice["buttons"]  # the buttons read from the outbox payloads
        if server.ctx.engine.dialect.name == "postgresql":
            assert sent == [], sent
    finally:
        if tab is not None and tab.ws is not None:
            await tab.ws.close()
        await first.close()
