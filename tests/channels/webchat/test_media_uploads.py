"""Voice notes, audio and video a web chat visitor sends are accepted by default and play on the agent's page."""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from bot.core.conversations.models import Message
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor


async def test_audio_and_video_uploads_are_accepted_by_default_and_play_in_the_workbench(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession
) -> None:
    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("a voice note and a clip follow")
        for name, mime in (("note.ogg", "audio/ogg"), ("song.mp3", "audio/mpeg"), ("clip.mp4", "video/mp4"),
                           ("clip.webm", "video/webm")):
            status, body = await visitor.upload(name, b"\x00\x01 media bytes", mime)
            assert status == 200 and body["type"] == "ack", (mime, status, body)
    finally:
        await visitor.close()
    async with server.ctx.factory() as session:
        rows = (await session.scalars(select(Message).where(Message.attachment_id.is_not(None)).order_by(Message.id))).all()
    assert len(rows) == 4
    await login(http, server.url, demo.admin.email)
    async with http.get(f"{server.url}/workbench/conversations/{rows[0].conversation_id}") as resp:
        page = await resp.text()
    for row, tag in zip(rows, ("audio", "audio", "video", "video"), strict=True):
        assert f'<{tag} class="player" controls preload="none" src="/workbench/files/{row.attachment_id}" aria-label="' in page
    async with http.get(f"{server.url}/workbench/files/{rows[0].attachment_id}") as resp:
        assert resp.headers["Content-Type"] == "audio/ogg" and resp.headers["Content-Disposition"].startswith("inline")
