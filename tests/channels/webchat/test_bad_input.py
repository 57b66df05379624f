"""Bad input on the web chat: a clear error, the server keeps serving, nothing half-stored."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.core.conversations.models import Message
from bot.core.files.models import Attachment
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor


async def _counts(server: Server) -> tuple[int, int]:
    async with server.ctx.factory() as session:
        messages = await session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        files = await session.scalar(select(func.count()).select_from(Attachment))
    return int(messages or 0), int(files or 0)


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ({"type": "text", "text": ""}, "invalid_input"),
        ({"type": "text", "text": "x" * 4001}, "invalid_input"),
        ({"type": "text", "text": 42}, "invalid_input"),
        ({"type": "location", "latitude": 91, "longitude": 0}, "invalid_input"),
        ({"type": "location", "latitude": "north"}, "invalid_input"),
        ({"type": "teleport"}, "invalid_input"),
    ],
)
async def test_bad_frames_get_a_clear_error(server: Server, demo: OrgWithAdmin, frame: dict[str, object], error: str) -> None:
    visitor = await Visitor(server.url).open()
    try:
        reply = await visitor.send(frame)
        assert reply["type"] == "error" and reply["error"] == error and reply["message"]
        assert (await visitor.say("still here"))["type"] == "ack"
    finally:
        await visitor.close()
    assert (await _counts(server))[0] == 1


async def test_non_json_and_binary_frames(server: Server, demo: OrgWithAdmin) -> None:
    visitor = await Visitor(server.url).open()
    try:
        assert visitor.ws is not None
        await visitor.ws.send_str("{not json")
        assert (await visitor.wait(lambda e: e["type"] == "error"))["message"] == "the frame is not JSON"
        await visitor.ws.send_str("[1, 2]")
        assert (await visitor.wait(lambda e: e["type"] == "error"))["error"] == "invalid_input"
        await visitor.ws.send_bytes(b"\x00\x01")
        assert (await visitor.wait(lambda e: e["type"] == "error"))["error"] == "invalid_input"
        assert (await visitor.say("fine"))["type"] == "ack"
    finally:
        await visitor.close()


async def test_oversized_frame_closes_only_that_socket(server: Server, demo: OrgWithAdmin) -> None:
    visitor = await Visitor(server.url).open()
    assert visitor.ws is not None
    await visitor.ws.send_str('{"type": "text", "text": "' + "y" * 70_000 + '"}')
    msg = await visitor.ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    await visitor.close()
    again = await Visitor(server.url).open()
    try:
        assert (await again.say("after the big one"))["type"] == "ack"
    finally:
        await again.close()


async def test_uploads_over_the_limit_or_of_a_refused_type(server: Server, demo: OrgWithAdmin) -> None:
    visitor = await Visitor(server.url).open()
    try:
        limit = server.ctx.settings.webchat.max_upload_bytes
        status, body = await visitor.upload("big.png", b"0" * (limit + 1), "image/png")
        assert status == 413 and body["error"] == "payload_too_large"
        status, body = await visitor.upload("run.exe", b"MZ...", "application/x-msdownload")
        assert status == 415 and "not accepted" in body["message"]
        status, body = await visitor.upload("empty.txt", b"", "text/plain")
        assert status == 400
        async with visitor.http.post(f"{server.url}/chat/upload", data=b"raw") as resp:
            assert resp.status == 400
    finally:
        await visitor.close()
    assert await _counts(server) == (0, 0)


async def test_forged_or_missing_visitor_cookie_is_refused(server: Server, demo: OrgWithAdmin) -> None:
    async with aiohttp.ClientSession(cookies={"incs_visitor": "someone-else.0000"}) as http:
        async with http.get(f"{server.url}/chat/ws") as resp:
            assert resp.status == 401
        form = aiohttp.FormData()
        form.add_field("file", b"x", filename="a.txt", content_type="text/plain")
        async with http.post(f"{server.url}/chat/upload", data=form) as resp:
            assert resp.status == 401
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/chat/ws") as resp:
            assert resp.status == 401


async def test_unknown_organization_and_foreign_files(server: Server, demo: OrgWithAdmin) -> None:
    owner = await Visitor(server.url).open()
    _, body = await owner.upload("mine.txt", b"private", "text/plain")
    attachment_id = body["message"]["attachment_id"]
    async with owner.http.get(f"{server.url}/chat/files/{attachment_id}") as resp:
        assert resp.status == 200 and await resp.read() == b"private"
    await owner.close()
    stranger = await Visitor(server.url).open()
    try:
        async with stranger.http.get(f"{server.url}/chat/files/{attachment_id}") as resp:
            assert resp.status == 404
        async with stranger.http.get(f"{server.url}/chat/files/abc") as resp:
            assert resp.status == 404
        async with stranger.http.get(f"{server.url}/chat?org=nope") as resp:
            assert resp.status == 404
    finally:
        await stranger.close()


async def test_workbench_unknown_ids(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    from tests.utils.factories import login

    await login(http, server.url, demo.admin.email)
    for path in ("/workbench/conversations/999999", "/workbench/conversations/abc", "/workbench/files/12345"):
        async with http.get(server.url + path) as resp:
            assert resp.status == 404, path
            assert "INCS Support" in await resp.text()
