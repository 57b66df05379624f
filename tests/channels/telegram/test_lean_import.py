"""aiogram's types and methods are built on first use, not at import (bot/channels/telegram/lean.py), and every one
of them still builds and parses or serializes: checked in a fresh interpreter, where the import order is the
server's."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import weakref
from typing import Any

from aiogram.methods import Response
from aiogram.types import Message

from tests.fakes.telegram_api import FakeTelegram

PROBE = textwrap.dedent(
    """
    import json, sys
    import bot.channels.telegram  # installs the hook, as bot.app does before any aiogram import
    import aiogram.methods
    import aiogram.types
    from aiogram.types import Update

    names = [n for n in aiogram.types.__all__ if hasattr(getattr(aiogram.types, n), "model_rebuild")]
    built_at_import = sum(1 for n in names if getattr(aiogram.types, n).__pydantic_complete__)
    methods = [n for n in aiogram.methods.__all__ if hasattr(getattr(aiogram.methods, n), "model_rebuild")]
    methods_built = sum(1 for n in methods if getattr(aiogram.methods, n).__pydantic_complete__)
    from aiogram.methods import AnswerCallbackQuery, SendMessage
    from aiogram.methods.base import Response
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="consent:yes:0")]])
    sent = SendMessage(chat_id=5, text="hi", reply_markup=keyboard).model_dump(exclude_none=True)
    answered = AnswerCallbackQuery(callback_query_id="q").model_dump(exclude_none=True)
    answer = Response[Message].model_validate(
        {"ok": True, "result": {"message_id": 9, "date": 1, "chat": {"id": 5, "type": "private"}, "text": "hi"}})
    update = Update.model_validate({
        "update_id": 7,
        "message": {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"},
                    "from": {"id": 5, "is_bot": False, "first_name": "Ann"}, "text": "hi",
                    "reply_to_message": {"message_id": 0, "date": 1, "chat": {"id": 5, "type": "private"},
                                         "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]}},
    })
    failed = []
    for n in names:  # every type builds on demand: its forward references resolve
        try:
            getattr(aiogram.types, n).model_rebuild(force=True)
        except Exception as exc:
            failed.append(f"{n}: {exc}")
    for n in aiogram.methods.__all__:
        method = getattr(aiogram.methods, n)
        if hasattr(method, "model_rebuild"):
            try:
                method.model_rebuild(force=True)
            except Exception as exc:
                failed.append(f"{n}: {exc}")
    print(json.dumps({"types": len(names), "built_at_import": built_at_import, "failed": failed,
                      "methods": len(methods), "methods_built_at_import": methods_built,
                      "sent": [sent["chat_id"], sent["text"], sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"]],
                      "answered": answered["callback_query_id"], "answer": answer.result.message_id,
                      "text": update.message.text, "from": update.message.from_user.first_name,
                      "photo": update.message.reply_to_message.photo[0].file_id}))
    """
)


def test_aiogram_types_and_methods_are_built_on_first_use_and_all_of_them_still_build_and_parse() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["types"] > 200
    assert result["built_at_import"] < 10, f"{result['built_at_import']} of {result['types']} types built at import"
    assert result["methods"] > 100
    assert result["methods_built_at_import"] < 10, f"{result['methods_built_at_import']} of {result['methods']} methods built at import"
    assert result["sent"] == [5, "hi", "consent:yes:0"]
    assert (result["answered"], result["answer"]) == ("q", 9)
    assert result["failed"] == []
    assert (result["text"], result["from"], result["photo"]) == ("hi", "Ann", "f")


def test_the_app_without_telegram_or_slack_configured_imports_neither_library() -> None:
    probe = "import sys, bot.app; print(sorted({m.split('.')[0] for m in sys.modules} & {'aiogram', 'slack_bolt', 'slack_sdk'}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


async def test_the_answer_models_of_the_calls_made_stay_built(demo_tg: object, tg: Any, fake: FakeTelegram) -> None:
    """aiogram parses each answer as Response[<result type>], which pydantic keeps only weakly: kept here, a send
    does not rebuild that model after a collection (a few milliseconds each, measured 3% of first contact)."""
    fake.push(fake.message(4242, "hello"))
    await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat == "4242")
    kept = weakref.ref(Response[Message])
    gc.collect()
    assert kept() is not None, "Response[Message] was collected: the next send builds it again"
