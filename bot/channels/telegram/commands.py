"""The bot's command menu (setMyCommands): English for everyone, Chinese for users whose Telegram speaks zh.

Texts are in templates/bot/<locale>/telegram_commands.txt, one "name - description" a line. A refusal or an
outage is logged and tried again later; the menu is a convenience and never holds up start-up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats

from bot.flows.texts import render_text

if TYPE_CHECKING:
    from bot.channels.telegram.runtime import TelegramChannel

log = logging.getLogger(__name__)
# (template locale, Telegram language_code): None is the default list, shown when no localized one matches.
MENUS: tuple[tuple[str, str | None], ...] = (("en", None), ("zh", "zh"))
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0


def command_list(locale: str) -> list[BotCommand]:
    commands = []
    for line in render_text("telegram_commands", locale).splitlines():
        name, _, description = line.partition(" - ")
        if name.strip() and description.strip():
            commands.append(BotCommand(command=name.strip(), description=description.strip()[:256]))
    return commands


async def publish_commands(channel: TelegramChannel) -> None:
    """Set every menu, retrying each with a growing delay until Telegram takes it (only private chats get it:
    the agents' supergroup needs no customer commands)."""
    pending = list(MENUS)
    delay = FIRST_RETRY_SECONDS
    while pending:
        locale, language_code = pending[0]
        try:
            await channel.bot.set_my_commands(
                commands=command_list(locale), scope=BotCommandScopeAllPrivateChats(), language_code=language_code
            )
            pending.pop(0)
            continue
        except TelegramRetryAfter as exc:
            delay = max(delay, float(exc.retry_after))
            _failed(channel, locale, exc.message, delay)
        except TelegramAPIError as exc:  # refusals, 5xx and network errors alike
            _failed(channel, locale, exc.message, delay)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the menu is retried, never fatal
            _failed(channel, locale, type(exc).__name__, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RETRY_SECONDS)
    log.info("telegram command menus set (%s)", ", ".join(locale for locale, _ in MENUS))


def _failed(channel: TelegramChannel, locale: str, message: str, delay: float) -> None:
    channel.state.send_error(f"setMyCommands: {message}")
    log.warning("telegram setMyCommands (%s) failed (%s); retrying in %.0fs", locale, message, delay)
