"""Driving the identity check over web chat and reading codes from the SMTP sink."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.common import clock
from tests.fakes.smtp import SmtpSink, body_text
from tests.utils.webchat import Visitor

CODE = re.compile(r"^\s+(\d{6})\s*$", re.M)


async def bot_says(visitor: Visitor, fragment: str, within: float = 5.0) -> dict[str, Any]:
    return await visitor.wait_message(lambda m: m["author"] == "bot" and fragment in m["text"], within)


async def code_from_email(sink: SmtpSink, address: str, count: int = 1) -> str:
    message = await sink.wait_for(address, count=count)
    match = CODE.search(body_text(message))
    assert match, "no code in the email"
    return match.group(1)


async def start_chat(visitor: Visitor) -> None:
    await visitor.open()
    await visitor.say("Hello")
    await bot_says(visitor, "")  # greeting


async def ask_code(visitor: Visitor, address: str) -> None:
    ack = await visitor.say(f"/verify {address}")
    assert ack["type"] == "ack", ack
    await bot_says(visitor, "code is on its way")


async def verify_by_email(visitor: Visitor, sink: SmtpSink, address: str, count: int = 1) -> dict[str, Any]:
    await ask_code(visitor, address)
    code = await code_from_email(sink, address, count)
    ack = await visitor.say(code)
    await bot_says(visitor, "identity is confirmed")
    return ack


class SkipAhead:
    """The domain clock runs on from real time, plus whatever the test skips (never slept)."""

    def __init__(self) -> None:
        self.offset = timedelta()
        clock.set_clock(lambda: datetime.now(UTC).replace(tzinfo=None) + self.offset)

    def __call__(self, **delta: float) -> None:
        self.offset += timedelta(**delta)
