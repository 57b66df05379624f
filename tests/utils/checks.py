"""Shared checks of the hardening tests: no traceback or error line in the log, rows stored."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from bot.core.conversations.models import Message
from bot.core.files.models import Attachment
from tests.conftest import Server


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


async def stored(server: Server) -> tuple[int, int]:
    """(inbound messages, attachments) in the database."""
    async with server.ctx.factory() as session:
        messages = await session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        files = await session.scalar(select(func.count()).select_from(Attachment))
    return int(messages or 0), int(files or 0)
