"""Telegram channel on aiogram 3: polling or webhook, files, agents' topics, rate-limited durable sends.

`setup(app, ctx)` does nothing unless channels.telegram.token is set.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.channels.telegram import lean
from bot.context import AppContext

lean.install()  # before any module of this package imports aiogram (see lean.py)

log = logging.getLogger(__name__)
JOURNAL_PURGE_JOB = "telegram.journal_purge"
JOURNAL_PURGE_SECONDS = 6 * 3600  # the send journal keeps retention.telegram_journal_days; a few runs a day keep it bounded


def setup(app: web.Application, ctx: AppContext) -> None:
    config = ctx.settings.channels.telegram
    if not config.token:
        return
    if config.mode == "webhook" and not config.webhook_secret:
        from bot.config import ConfigError

        raise ConfigError("channels.telegram.webhook_secret: required in webhook mode (INCS_CHANNELS__TELEGRAM__WEBHOOK_SECRET)")
    from bot.channels.telegram.keys import TG
    from bot.channels.telegram.runtime import TelegramChannel
    from bot.channels.telegram.sender import TelegramSender
    from bot.channels.telegram.topics import TopicSender
    from bot.channels.telegram.webhook import telegram_webhook

    # aiogram logs every update at INFO; at our rates that is noise, and errors still show.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    channel = TelegramChannel(ctx)
    app[TG] = channel
    ctx.services["telegram"] = channel
    ctx.dispatcher.add_sender(TelegramSender(channel.delivery))
    ctx.dispatcher.add_sender(TopicSender(channel))
    if config.mode == "webhook":
        app.router.add_post("/telegram/webhook", telegram_webhook)
    ctx.on_start.append(channel.start)
    ctx.on_stop.append(channel.stop)
    ctx.services["scheduler"].every(JOURNAL_PURGE_JOB, JOURNAL_PURGE_SECONDS, channel.purge_journal)
    log.info("telegram channel on (%s mode)", config.mode)
