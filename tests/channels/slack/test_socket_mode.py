"""Slack in Socket Mode against the fake's websocket: envelopes in, acks after commit, replies out, clean stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import create_app
from bot.core.conversations.models import Conversation, Message
from bot.web import CTX
from tests.channels.slack.conftest import slack_settings
from tests.conftest import Server, free_port, start_server
from tests.fakes.slack_api import FakeSlack
from tests.utils.factories import OrgWithAdmin, login, make_org

APP_TOKEN = "xapp-1-A0APP-fake-app-level-token"
CUSTOMER = "U0CUST001"
DM = "D0CUST001"


def socket_settings(db_url: str, data_dir: Path, fake: FakeSlack) -> Any:
    # No signing secret: Socket Mode has no request signing, so it must not be needed.
    return slack_settings(db_url, data_dir, fake, mode="socket", app_token=APP_TOKEN, signing_secret="")


def dm(text: str, ts: str, user: str = CUSTOMER) -> dict[str, Any]:
    return {"type": "message", "channel": "D" + user[1:], "user": user, "text": text, "ts": ts, "channel_type": "im", "event_ts": ts}


@pytest.fixture
async def socket_server(db_url: str, tmp_path: Path, fake_slack: FakeSlack) -> AsyncIterator[Server]:
    srv = await start_server(socket_settings(db_url, tmp_path / "data", fake_slack))
    yield srv
    await srv.stop()


@pytest.fixture
async def socket_demo(socket_server: Server) -> OrgWithAdmin:
    return await make_org(socket_server.ctx.factory, slug="demo")


async def _inbound(server: Server) -> list[Message]:
    async with server.ctx.factory() as session:
        return list((await session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))).all())


async def test_socket_dm_is_acked_after_commit_reaches_workbench_and_agent_reply_reaches_slack(
    socket_server: Server, socket_demo: OrgWithAdmin, fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    await fake_slack.wait_socket()
    [opened] = fake_slack.called("apps.connections.open")
    assert opened.token == APP_TOKEN  # the app-level token opens the socket; the bot token posts
    async with http.post(f"{socket_server.url}/slack/events", data=b"{}") as resp:
        assert resp.status in (404, 405)  # no HTTP endpoint in socket mode

    envelope_id = await fake_slack.push_event(dm("Hello over <the> socket", "1700000101.000100"), "EvS001")
    ack = await fake_slack.wait_ack(envelope_id)
    assert ack == {"envelope_id": envelope_id}
    # Acked only after the commit: the message is there as soon as the ack is.
    [stored] = await _inbound(socket_server)
    assert stored.text == "Hello over <the> socket"
    async with socket_server.ctx.factory() as session:
        conversation = await session.get(Conversation, stored.conversation_id)
    assert conversation is not None and conversation.channel == "slack"

    csrf = await login(http, socket_server.url, socket_demo.admin.email)
    async with http.get(f"{socket_server.url}/workbench/conversations/{stored.conversation_id}") as resp:
        assert resp.status == 200
        assert "Hello over &lt;the&gt; socket" in await resp.text()
    async with http.post(
        f"{socket_server.url}/workbench/conversations/{stored.conversation_id}/reply",
        data={"text": "On it, via the socket", "csrf_token": csrf},
        headers={"Accept": "application/json"},
    ) as resp:
        assert resp.status == 200, await resp.text()
    post = await fake_slack.wait_until(lambda c: c.args.get("text") == "On it, via the socket")
    assert post.args["channel"] == DM and post.token == "xoxb-test-token"
    assert len(fake_slack.acks) == 1


async def test_socket_redelivered_event_is_acked_each_time_and_stored_once(
    socket_server: Server, socket_demo: OrgWithAdmin, fake_slack: FakeSlack
) -> None:
    event = dm("Only once please", "1700000102.000100")
    first = await fake_slack.push_event(event, "EvS002")
    await fake_slack.wait_ack(first)
    # The very same envelope again, then Slack's retry of it (new envelope, same event id).
    await fake_slack.push_event(event, "EvS002", envelope_id=first)
    retry = await fake_slack.push_event(event, "EvS002", retry_attempt=1, retry_reason="timeout")
    await fake_slack.wait_ack(retry)

    async def acked_twice() -> bool:
        return len(fake_slack.acked(first)) == 2

    async with asyncio.timeout(5):
        while not await acked_twice():  # noqa: ASYNC110 - polling a fake
            await asyncio.sleep(0.02)
    assert [m.text for m in await _inbound(socket_server)] == ["Only once please"]


async def test_socket_reconnects_when_slack_sends_disconnect(
    socket_server: Server, socket_demo: OrgWithAdmin, fake_slack: FakeSlack
) -> None:
    old = await fake_slack.wait_socket()
    await fake_slack.disconnect("refresh_requested")
    new = await fake_slack.wait_socket(connections=2)
    assert new is not old and len(fake_slack.called("apps.connections.open")) == 2

    envelope_id = await fake_slack.push_event(dm("After the refresh", "1700000103.000100"), "EvS003")
    await fake_slack.wait_ack(envelope_id)
    assert [m.text for m in await _inbound(socket_server)] == ["After the refresh"]


async def test_stop_lets_the_envelope_in_flight_finish_and_acks_it(db_url: str, tmp_path: Path, fake_slack: FakeSlack) -> None:
    fake_slack.files["F0DOC1"] = b"%PDF-1.4 slow"
    gate = fake_slack.download_gate = asyncio.Event()
    srv = await start_server(socket_settings(db_url, tmp_path / "data", fake_slack))
    stopping: asyncio.Task[None] | None = None
    try:
        await make_org(srv.ctx.factory, slug="demo")
        await fake_slack.wait_socket()
        file = {"id": "F0DOC1", "name": "a.pdf", "mimetype": "application/pdf", "url_private_download": f"{fake_slack.url}/files/F0DOC1"}
        event = dict(dm("", "1700000105.000100"), subtype="file_share", files=[file])
        envelope_id = await fake_slack.push_event(event, "EvS005")
        async with asyncio.timeout(5):
            while not fake_slack.downloads:  # noqa: ASYNC110 - polling a fake
                await asyncio.sleep(0.02)
        stopping = asyncio.create_task(srv.stop())  # while the event is still being processed
        await asyncio.sleep(0.1)
        assert not stopping.done() and not fake_slack.acked(envelope_id)
        gate.set()
        async with asyncio.timeout(5):
            await stopping
    finally:
        gate.set()
        await (stopping if stopping is not None else srv.stop())
    assert fake_slack.acked(envelope_id) == [{"envelope_id": envelope_id}]
    [stored] = await _inbound(srv)
    assert stored.kind == "file" and stored.attachment_id
    await srv.ctx.engine.dispose()


async def test_app_starts_and_stops_while_slack_refuses_the_socket(db_url: str, tmp_path: Path, fake_slack: FakeSlack) -> None:
    fake_slack.fail("apps.connections.open", 503, times=50)
    srv = await start_server(socket_settings(db_url, tmp_path / "data", fake_slack))
    try:
        await fake_slack.wait_for("apps.connections.open")
        async with aiohttp.ClientSession() as http, http.get(f"{srv.url}/healthz") as resp:
            assert resp.status == 200  # the workbench is up although Slack is not reachable
    finally:
        async with asyncio.timeout(3):
            await srv.stop()  # the SDK's retry loop (10 s sleeps) is cancelled, not waited for
    assert fake_slack.connections == 0


def test_socket_mode_runs_like_incs_run_and_stops_without_leftovers(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`incs run` builds the app before its event loop exists, then runs it in a new loop."""
    port = free_port()
    fake = FakeSlack()
    fake.url = f"http://127.0.0.1:{port}"
    app = create_app(socket_settings(sqlite_url, tmp_path / "data", fake))  # no running loop here

    async def run() -> list[asyncio.Task[Any]]:
        await fake.start(port)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()  # on_startup: socket mode connects in the background
        try:
            await make_org(app[CTX].factory, slug="demo")
            await fake.wait_socket()
            envelope_id = await fake.push_event(dm("Hi from incs run", "1700000104.000100"), "EvS004")
            await fake.wait_ack(envelope_id)
        finally:
            async with asyncio.timeout(3):
                await runner.cleanup()  # closes the socket: no reconnect, no waiting on timeouts
        async with asyncio.timeout(2):
            while fake.sockets:  # noqa: ASYNC110 - the fake's side of the socket ends too
                await asyncio.sleep(0.02)
        await fake.stop()
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    loop = asyncio.new_event_loop()
    try:
        leftovers = loop.run_until_complete(run())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
    assert leftovers == []
    assert len(fake.called("apps.connections.open")) == 1  # closed for good, not reconnected
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(("slack", "bot.channels.slack"))]
    assert problems == []


async def test_socket_envelopes_of_an_unexpected_shape_are_refused_with_one_line_each_and_acked(
    socket_server: Server, socket_demo: OrgWithAdmin, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """The checks of a signed HTTP body, applied to Socket Mode: nothing stored, no traceback, one line per frame."""
    from tests.utils.checks import no_tracebacks, stored

    ws = await fake_slack.wait_socket()
    acked_bad: dict[str, dict[str, Any]] = {
        "Ebad1": {"envelope_id": "Ebad1", "type": "events_api", "payload": [1, 2, 3]},
        "Ebad2": {"envelope_id": "Ebad2", "type": "events_api", "payload": {"type": "event_callback", "event": [1]}},
        "Ebad3": {"envelope_id": "Ebad3", "type": "events_api",
                  "payload": {"type": "event_callback", "team_id": 7, "event": {"type": "message", "text": {"a": 1}}}},
        "Ebad4": {"envelope_id": "Ebad4", "type": "events_api", "retry_attempt": "x", "payload": {"type": "event_callback"}},
        "Ebad5": {"envelope_id": "Ebad5", "type": "events_api",
                  "payload": {"type": "event_callback", "authorizations": "x", "event": {"type": "message"}}},
    }
    for envelope in acked_bad.values():
        await fake_slack.push(envelope)
    await ws.send_str('{"envelope_id": "Ebad6", "type": "events_api", "payload": {"type": "event_callback", '
                      '"event": {"type": "message", "channel": "D0CUST001", "user": "U0CUST001", "text": "\\ud800"}}}')
    unacked_bad = [{"envelope_id": 5, "type": "events_api", "payload": {}}]
    for envelope in unacked_bad:
        await fake_slack.push(envelope)
    for raw in ("{not json at all", "{" + '"a": ' + "[" * 5000, "[1, 2]"):
        await ws.send_str(raw)
    bad_frames = len(acked_bad) + 1 + len(unacked_bad) + 3

    for envelope_id in [*acked_bad, "Ebad6"]:
        await fake_slack.wait_ack(envelope_id)
    good = await fake_slack.push_event(dm("Still listening", "1700000104.000100"), "EvS004")
    await fake_slack.wait_ack(good)  # the connection survived every bad frame

    def refusals() -> int:
        return sum("slack: socket mode" in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)

    async with asyncio.timeout(5):
        while refusals() < bad_frames:  # noqa: ASYNC110 - frames are handled concurrently by the SDK
            await asyncio.sleep(0.02)
    assert refusals() == bad_frames
    no_tracebacks(caplog)
    assert [m.text for m in await _inbound(socket_server)] == ["Still listening"]
    assert await stored(socket_server) == (1, 0)
    assert all(len(fake_slack.acked(e)) == 1 for e in [*acked_bad, "Ebad6"])
