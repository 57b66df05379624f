"""Webhook updates per second through the whole Telegram pipeline vs a bare aiogram echo on the same path.

Both run in this process against the fake Bot API, driven by the same HTTP client at the same
concurrency: first a bare aiogram Dispatcher (echo handler answering in the webhook response, no
storage: the framework's floor), then our app on SQLite (secret check, dedup, org lookup, ingest
with group commit, flows). Target: ours >= 50% of the bare rate, p99 < 50 ms.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.app import create_app
from bot.config import Settings
from bot.migrate import upgrade
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.utils.factories import make_org

USERS = 50
UPDATES = 3000
OFFERED_RATE = float(os.environ.get("BENCH_RATE", "400"))
# Telegram opens up to 40 webhook connections at once by default (setWebhook max_connections).
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "40"))
SECRET = "bench-secret"
PATH = "/telegram/webhook"


def updates(fake: FakeTelegram, count: int, start_id: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        body = fake.message(10_000 + i % USERS, f"message {i} about my order")
        out.append({"update_id": start_id + i, **body})
    return out


async def drive(url: str, bodies: list[dict[str, Any]]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            async with http.post(url, json=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"webhook answered {resp.status}")
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return len(bodies) / elapsed, latencies


async def drive_open(url: str, bodies: list[dict[str, Any]], rate: float) -> tuple[float, list[float]]:
    """Open loop: updates arrive on a fixed schedule whatever the answers; latency counts from the schedule."""
    latencies: list[float] = []
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def one(http: aiohttp.ClientSession, body: dict[str, Any], due: float) -> None:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        async with http.post(url, json=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"webhook answered {resp.status}")
        latencies.append(time.perf_counter() - due)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
        started = time.perf_counter() + 0.05
        await asyncio.gather(*(one(http, body, started + n / rate) for n, body in enumerate(bodies)))
        elapsed = time.perf_counter() - started
    return len(bodies) / elapsed, latencies


Measured = tuple[tuple[float, list[float]], tuple[float, list[float]]]


async def measure(url: str, fake: FakeTelegram, first_id: int) -> Measured:
    """Capacity (closed loop, CONCURRENCY connections) and latency at a fixed offered rate (open loop)."""
    capacity = await drive(url, updates(fake, UPDATES, first_id))
    latency = await drive_open(url, updates(fake, int(OFFERED_RATE * 4), first_id + UPDATES), OFFERED_RATE)
    return capacity, latency


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}{PATH}"


async def bare_echo(fake: FakeTelegram) -> Measured:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
    dp = Dispatcher()

    @dp.message(F.text)
    async def echo(message: Message) -> SendMessage:
        return SendMessage(chat_id=message.chat.id, text=message.text or "")

    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token=SECRET).register(app, path=PATH)
    runner, url = await serve(app)
    try:
        await drive(url, updates(fake, 300, 1))  # warm-up
        return await measure(url, fake, 10_000)
    finally:
        await runner.cleanup()
        await bot.session.close()


async def pipeline(fake: FakeTelegram, data_dir: Path) -> Measured:
    url = f"sqlite+aiosqlite:///{data_dir / 'incs.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings.model_validate(
        {
            "data_dir": data_dir,
            "secret_key": "bench-secret-key-0123456789abcdefghijkl",
            "database": {"url": url},
            "logging": {"level": "WARNING"},
            "channels": {
                "telegram": {
                    "token": TOKEN,
                    "api_base": fake.url,
                    "mode": "webhook",
                    "webhook_secret": SECRET,
                    "rate_global": 1000,
                    "rate_per_chat": 100,
                    "flood_limit": 100_000,
                }
            },
        }
    )
    app = create_app(settings)
    runner, hook = await serve(app)
    try:
        from bot.web import CTX

        await make_org(app[CTX].factory, slug="demo")
        await drive(hook, updates(fake, USERS * 2, 1))  # warm-up: customers, conversations, greetings
        await _outbox_drained(app[CTX].factory)  # the greetings' sends are not part of the measured updates
        return await measure(hook, fake, 100_000)
    finally:
        await runner.cleanup()


async def _outbox_drained(factory: Any, timeout: float = 60) -> None:
    from bot.core.delivery.outbox import backlog

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        async with factory() as session:
            if await backlog(session=session) == 0:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("outbox did not drain")


def summary(name: str, rate: float, latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=100)
    return f"{name:<22} {rate:8.0f} updates/s   p50 {cuts[49] * 1000:6.1f} ms   p99 {cuts[98] * 1000:6.1f} ms"


async def run() -> None:
    # Server, fake Bot API and load run in this one process: collect garbage as `incs run` does (bot/cli.py).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiogram").setLevel(logging.WARNING)
    fake = await FakeTelegram().start()
    try:
        (bare_rate, bare_lat), (_, bare_open) = await bare_echo(fake)
        with tempfile.TemporaryDirectory() as tmp:
            (ours_rate, ours_lat), (_, ours_open) = await pipeline(fake, Path(tmp))
    finally:
        await fake.stop()
    print(f"capacity: {UPDATES} webhook updates from {USERS} users over {CONCURRENCY} connections, SQLite")
    print(summary("  bare aiogram echo", bare_rate, bare_lat))
    print(summary("  INCS pipeline", ours_rate, ours_lat))
    print(f"latency: {OFFERED_RATE:.0f} updates/s offered for 4 s (open loop)")
    print(summary("  bare aiogram echo", OFFERED_RATE, bare_open))
    print(summary("  INCS pipeline", OFFERED_RATE, ours_open))
    ratio = ours_rate / bare_rate
    p99 = statistics.quantiles(ours_open, n=100)[98] * 1000
    verdict = "OK" if ratio >= 0.5 and p99 < 50 else "BELOW TARGET"
    print(f"ratio {ratio:.0%} of bare (target >= 50%), p99 {p99:.1f} ms at {OFFERED_RATE:.0f}/s (target < 50 ms): {verdict}")


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
