"""The Telegram session sends a method without files as one JSON body (aiogram's own session sends multipart form
data for everything, and building it was a third of a send's CPU); an upload still goes as multipart form data.
The Bot API reads the same parameters either way; what reaches the fake is compared here."""

from __future__ import annotations

from pathlib import Path

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import FSInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.telegram.session import JsonSession
from tests.fakes.telegram_api import TOKEN, FakeTelegram


async def test_a_message_goes_as_json_and_a_photo_as_multipart(fake: FakeTelegram, tmp_path: Path) -> None:
    session = JsonSession(api=TelegramAPIServer.from_base(fake.url), timeout=5)
    bot = Bot(TOKEN, session=session)
    try:
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="I agree", callback_data="consent:yes:0")]])
        sent = await bot.send_message(chat_id=42, text="<b>Hello</b>", parse_mode="HTML", reply_markup=markup,
                                      disable_notification=False)
        photo = tmp_path / "p.png"
        photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
        await bot.send_photo(chat_id=42, photo=FSInputFile(photo), caption="a picture")
    finally:
        await session.close()
    message_call, photo_call = [c for c in fake.calls if c.method in ("sendMessage", "sendPhoto")]
    assert message_call.content_type == "application/json"
    assert str(message_call.params["chat_id"]) == "42" and message_call.params["text"] == "<b>Hello</b>"
    assert message_call.params["parse_mode"] == "HTML" and message_call.params["disable_notification"] is False
    assert message_call.params["reply_markup"] == {"inline_keyboard": [[{"text": "I agree", "callback_data": "consent:yes:0"}]]}
    assert sent.message_id and sent.chat.id == 42
    assert photo_call.content_type == "multipart/form-data"
    assert photo_call.params["caption"] == "a picture" and str(photo_call.params["photo"]).startswith("attach://")
    uploads = [v for v in photo_call.params.values() if isinstance(v, dict) and "content" in v]
    assert len(uploads) == 1 and uploads[0]["content"].startswith(b"\x89PNG")
