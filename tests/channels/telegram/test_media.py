"""Telegram media and other kinds: stored so the agent sees (and can play) them; a retried update fetches nothing again."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.core.files.models import Attachment
from tests.channels.telegram.conftest import inbound, wait_rows
from tests.conftest import Server
from tests.fakes.telegram_api import FakeTelegram
from tests.utils.factories import login, make_org

CHAT = 4242


def _file(fake: FakeTelegram, content: bytes, **fields: Any) -> dict[str, Any]:
    size = fields.pop("size", None)
    extra = {"file_size": size} if size is not None else {}
    return {"file_id": fake.add_file(content, size=size), "file_unique_id": f"u{len(fake.files)}", **extra, **fields}


async def test_voice_audio_video_and_video_notes_are_stored_playable_within_the_size_limit(
    tg_start: object, fake: FakeTelegram
) -> None:
    server: Server = await tg_start(max_download_bytes=1024 * 1024)  # type: ignore[operator]
    demo = await make_org(server.ctx.factory, slug="demo")
    fake.push(fake.message(CHAT, None, voice=_file(fake, b"OggS voice", duration=7, mime_type="audio/ogg")))
    fake.push(fake.message(CHAT, None, audio=_file(fake, b"ID3 song", duration=180, performer="Band", title="Song",
                                                    mime_type="audio/mpeg")))
    fake.push(fake.message(CHAT, None, video=_file(fake, b"mp4 video", duration=12, width=2, height=2, mime_type="video/mp4"),
                           caption="the box arrived like this"))
    fake.push(fake.message(CHAT, None, video_note=_file(fake, b"mp4 note", duration=5, length=2)))
    fake.push(fake.message(CHAT, None, video=_file(fake, b"x", size=5 * 1024 * 1024, duration=99, width=2, height=2,
                                                    mime_type="video/mp4")))
    rows = await wait_rows(server, inbound(CHAT), count=5)
    assert [r.text for r in rows] == [
        "🎤 Voice message (7 s)", "🎵 Band – Song (180 s)", "🎬 Video (12 s) the box arrived like this", "🎬 Video message (5 s)",
        "📎 🎬 Video (99 s) (video/mp4, 5.0 MB) — not received: too large",
    ]
    assert all(r.attachment_id for r in rows[:4]) and rows[4].attachment_id is None
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench/files/{rows[0].attachment_id}") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "audio/ogg"
            assert resp.headers["Content-Disposition"].startswith("inline") and await resp.read() == b"OggS voice"
    await fake.wait_for(lambda c: c.chat == str(CHAT) and "could not receive it" in str(c.params.get("text", "")))
    assert not [c for c in fake.sent(CHAT) if "can read text" in str(c.params.get("text", ""))]


async def test_stickers_contacts_dice_polls_and_empty_messages_are_stored_as_notes(tg_start: object, fake: FakeTelegram) -> None:
    server: Server = await tg_start()  # type: ignore[operator]
    await make_org(server.ctx.factory, slug="demo")
    fake.push(fake.message(CHAT, None, sticker={"file_id": "s1", "file_unique_id": "s1u", "type": "regular", "width": 1,
                                                "height": 1, "is_animated": False, "is_video": False, "emoji": "😀"}))
    fake.push(fake.message(CHAT, None, contact={"phone_number": "+8613800000000", "first_name": "Li", "last_name": "Wei"}))
    fake.push(fake.message(CHAT, None, dice={"emoji": "🎲", "value": 4}))
    fake.push(fake.message(CHAT, None, poll={"id": "p1", "question": "Which day?", "options": [
        {"text": "Mon", "voter_count": 0, "persistent_id": "o1"}, {"text": "Tue", "voter_count": 0, "persistent_id": "o2"}],
        "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular", "allows_multiple_answers": False,
        "allows_revoting": False, "members_only": False}))
    fake.push(fake.message(CHAT, None))
    rows = await wait_rows(server, inbound(CHAT), count=5)
    assert [r.text for r in rows] == ["[sticker 😀]", "[contact: Li Wei, +8613800000000]", "[dice 🎲: 4]",
                                      "[poll: Which day? — Mon / Tue]", "[a message with nothing the bot can read]"]
    await fake.wait_for(lambda c: len([x for x in fake.sent(CHAT) if "voice messages" in str(x.params.get("text", ""))]) >= 5)


async def test_a_retried_update_after_a_restart_does_not_fetch_its_file_again(tg_start: object, fake: FakeTelegram) -> None:
    first: Server = await tg_start()  # type: ignore[operator]
    await make_org(first.ctx.factory, slug="demo")
    update = fake.message(CHAT, None, document=_file(fake, b"%PDF-1.4 invoice", file_name="invoice.pdf", mime_type="application/pdf"))
    fake.push(update)
    await wait_rows(first, inbound(CHAT))
    await first.stop()
    second: Server = await tg_start()  # type: ignore[operator]
    fake.push(update)  # delivered again: the first process died before confirming it
    fake.push(fake.message(CHAT, "after the retry"))
    rows = await wait_rows(second, inbound(CHAT), count=2)
    assert [r.kind for r in rows] == ["file", "text"]
    assert len([c for c in fake.calls if c.method == "getFile"]) == 1
    async with second.ctx.factory() as session:
        assert await session.scalar(select(func.count()).select_from(Attachment)) == 1
