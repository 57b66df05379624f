"""Child processes of the benchmarks, one role each, so no two share an event loop or a core's time slice:

    python -m tests.bench.procs fake-telegram        the fake Bot API (no rate limits), prints "READY <url>"
    python -m tests.bench.procs bare-echo <api url>  a bare aiogram webhook echo (the framework's floor), "READY <url>"

Each runs until it is terminated.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.telegram_api import TOKEN, FakeTelegram

SECRET = "bench-secret"
PATH = "/telegram/webhook"


async def _until_stopped() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


async def fake_telegram() -> None:
    fake = await FakeTelegram().start()
    print(f"READY {fake.url}", flush=True)
    await _until_stopped()
    await fake.stop()


async def bare_echo(api: str) -> None:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    dp = Dispatcher()

    @dp.message(F.text)
    async def echo(message: Message) -> SendMessage:
        return SendMessage(chat_id=message.chat.id, text=message.text or "")

    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token=SECRET).register(app, path=PATH)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"READY http://127.0.0.1:{port}{PATH}", flush=True)
    await _until_stopped()
    await runner.cleanup()
    await bot.session.close()


def main(argv: list[str]) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)  # as `incs run` does (bot/cli.py): the same collector settings on both sides
    if argv[0] == "fake-telegram":
        asyncio.run(fake_telegram())
    elif argv[0] == "bare-echo":
        asyncio.run(bare_echo(argv[1]))
    else:
        raise SystemExit(f"unknown role {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
