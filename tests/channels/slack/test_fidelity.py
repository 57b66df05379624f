"""Slack DMs as the customer sees them: edits and deletions follow, threads are answered in the thread,
mentions read as names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.core.conversations.models import Message
from tests.channels.slack.conftest import SlackPoster
from tests.conftest import Server
from tests.fakes.slack_api import FakeSlack
from tests.utils.factories import OrgWithAdmin, login

CUSTOMER = "U0CUST001"
DM = "D0CUST001"


async def _inbound(server: Server) -> list[Message]:
    async with server.ctx.factory() as session:
        return list((await session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))).all())


async def _change(poster: SlackPoster, event: dict[str, Any], event_id: str) -> None:
    status, _ = await poster.event({"type": "message", "channel": DM, "channel_type": "im", "hidden": True, **event}, event_id)
    assert status == 200


async def test_an_edit_in_the_dm_updates_the_message_and_a_deletion_hides_it(
    slack_server: Server, slack_demo: OrgWithAdmin, poster: SlackPoster, http: aiohttp.ClientSession
) -> None:
    await poster.dm(CUSTOMER, "my order is 4711", "1700000001.000100", "Ev1")
    await poster.dm(CUSTOMER, "my card number is 4111 1111", "1700000002.000100", "Ev2")
    await _change(poster, {"subtype": "message_changed", "ts": "1700000003.000100",
                           "message": {"type": "message", "user": CUSTOMER, "text": "my order is 4712", "ts": "1700000001.000100",
                                       "edited": {"user": CUSTOMER, "ts": "1700000003.000000"}},
                           "previous_message": {"type": "message", "user": CUSTOMER, "text": "my order is 4711",
                                                "ts": "1700000001.000100"}}, "Ev3")
    await _change(poster, {"subtype": "message_deleted", "ts": "1700000004.000100", "deleted_ts": "1700000002.000100",
                           "previous_message": {"type": "message", "user": CUSTOMER, "text": "my card number is 4111 1111",
                                                "ts": "1700000002.000100"}}, "Ev4")
    edited, deleted = await _inbound(slack_server)
    assert (edited.text, edited.edited) == ("my order is 4712", True)
    assert deleted.deleted_at is not None
    await login(http, slack_server.url, slack_demo.admin.email)
    async with http.get(f"{slack_server.url}/workbench/conversations/{edited.conversation_id}") as resp:
        page = await resp.text()
    assert "my order is 4712" in page and 'class="edited"' in page
    assert "4111" not in page and "deleted by the customer" in page
    async with http.get(f"{slack_server.url}/workbench") as resp:
        assert "4111" not in await resp.text()  # nor in the inbox preview


async def test_a_reply_in_a_thread_of_the_dm_is_answered_in_that_thread(
    slack_server: Server, slack_demo: OrgWithAdmin, poster: SlackPoster, fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    await poster.dm(CUSTOMER, "hello", "1700000001.000100", "Ev1")
    threaded = {"type": "message", "channel": DM, "channel_type": "im", "user": CUSTOMER, "text": "about that order",
                "ts": "1700000005.000100", "thread_ts": "1700000001.000100"}
    assert (await poster.event(threaded, "Ev2"))[0] == 200
    conversation_id = (await _inbound(slack_server))[0].conversation_id
    csrf = await login(http, slack_server.url, slack_demo.admin.email)

    async def agent_says(text: str) -> dict[str, Any]:
        async with http.post(f"{slack_server.url}/workbench/conversations/{conversation_id}/reply",
                             data={"text": text, "csrf_token": csrf}, headers={"Accept": "application/json"}) as resp:
            assert resp.status == 200
        call = await fake_slack.wait_until(lambda c: c.args.get("text") == text)
        return call.args

    assert (await agent_says("in the thread"))["thread_ts"] == "1700000001.000100"
    await poster.dm(CUSTOMER, "back at the top", "1700000009.000100", "Ev3")
    assert "thread_ts" not in await agent_says("at the top")


async def test_mentions_channels_and_links_are_stored_readable(
    slack_server: Server, slack_demo: OrgWithAdmin, poster: SlackPoster, fake_slack: FakeSlack
) -> None:
    fake_slack.users["W111"] = {"id": "W111", "name": "ann", "profile": {"display_name": "Ann", "real_name": "Ann Lee"}}
    raw = "<@W111> Hi there! See <#C0GEN|general>, <https://example.com/a?b=1|our page> &amp; <mailto:x@example.com|x@example.com>"
    await poster.dm(CUSTOMER, raw, "1700000001.000100", "Ev1")
    (message,) = await _inbound(slack_server)
    assert message.text == "@Ann Hi there! See #general, our page (https://example.com/a?b=1) & x@example.com"


async def test_an_event_retried_after_a_restart_does_not_download_its_file_again(
    db_url: str, tmp_path: Path, fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    from sqlalchemy import func

    from bot.core.files.models import Attachment
    from tests.channels.slack.conftest import slack_settings
    from tests.conftest import start_server
    from tests.utils.factories import make_org

    fake_slack.files["F0DOC1"] = b"%PDF-1.4 invoice"
    event = {"type": "message", "subtype": "file_share", "channel": DM, "user": CUSTOMER, "text": "", "ts": "1700000030.000100",
             "channel_type": "im", "files": [{"id": "F0DOC1", "name": "invoice.pdf", "mimetype": "application/pdf", "size": 16,
                                               "url_private_download": f"{fake_slack.url}/files/F0DOC1"}]}
    first = await start_server(slack_settings(db_url, tmp_path / "data", fake_slack))
    await make_org(first.ctx.factory, slug="demo")
    assert (await SlackPoster(http, first.url).event(event, "Ev030"))[0] == 200
    await first.stop()
    second = await start_server(slack_settings(db_url, tmp_path / "data", fake_slack))
    try:
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        assert (await SlackPoster(http, second.url).event(event, "Ev030", headers=retry))[0] == 200
        assert fake_slack.downloads == 1
        async with second.ctx.factory() as session:
            assert await session.scalar(select(func.count()).select_from(Attachment)) == 1
    finally:
        await second.stop()


async def test_a_retry_racing_on_another_process_leaves_one_file_and_no_orphan(
    db_url: str, tmp_path: Path, fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    """Both processes pass the "stored already?" check while the download is in flight; the one whose message
    turns out to be a duplicate removes the row and the file it fetched."""
    import asyncio

    from sqlalchemy import func

    from bot.core.files.models import Attachment
    from tests.channels.slack.conftest import slack_settings
    from tests.conftest import start_server
    from tests.utils.factories import make_org

    fake_slack.files["F0RACE1"] = b"%PDF-1.4 raced"
    event = {"type": "message", "subtype": "file_share", "channel": DM, "user": CUSTOMER, "text": "", "ts": "1700000031.000100",
             "channel_type": "im", "files": [{"id": "F0RACE1", "name": "raced.pdf", "mimetype": "application/pdf", "size": 14,
                                               "url_private_download": f"{fake_slack.url}/files/F0RACE1"}]}
    data = tmp_path / "data"
    first = await start_server(slack_settings(db_url, data, fake_slack))
    second = await start_server(slack_settings(db_url, data, fake_slack))
    try:
        await make_org(first.ctx.factory, slug="demo")
        await SlackPoster(http, first.url).dm(CUSTOMER, "a file follows", "1700000030.000200", "Ev030b")  # the chat exists
        gate = fake_slack.download_gate = asyncio.Event()
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        original = asyncio.ensure_future(SlackPoster(http, first.url).event(event, "Ev031"))
        again = asyncio.ensure_future(SlackPoster(http, second.url).event(event, "Ev031", headers=retry))
        async with asyncio.timeout(10):
            while fake_slack.downloads < 2:  # noqa: ASYNC110 - both processes are fetching the file now
                await asyncio.sleep(0.02)
        gate.set()
        assert [s for s, _ in await asyncio.gather(original, again)] == [200, 200]
        async with first.ctx.factory() as session:
            assert await session.scalar(select(func.count()).select_from(Attachment)) == 1
            kept = await session.scalar(select(Attachment.storage_path))
        files = [p for p in (data / "attachments").rglob("*") if p.is_file()]
        assert [p.relative_to(data).as_posix() for p in files] == [kept]
        assert [m.kind for m in await _inbound(first)] == ["text", "file"]
    finally:
        fake_slack.download_gate = None
        await second.stop()
        await first.stop()
