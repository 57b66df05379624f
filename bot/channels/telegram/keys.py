"""The application key of the running Telegram channel, importable without importing aiogram (the workbench's
pages look it up whether or not Telegram is on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.channels.telegram.runtime import TelegramChannel

TG: web.AppKey[TelegramChannel] = web.AppKey("incs_telegram")
