"""Child processes of the benchmarks, one role each, so no two share an event loop or a core's time slice:

    python -m tests.bench.procs fake-telegram        the fake Bot API (no rate limits), prints "READY <url>"
    python -m tests.bench.procs bare-echo <api url>  a bare aiogram webhook echo (the framework's floor), "READY <url>"
    python -m tests.bench.procs bare-webchat         the web chat's floor: aiohttp websockets that ack each visitor's
                                                     frame and pass it to the agent watching, storing nothing; "READY <url>"

Each runs until it is terminated.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import signal
import sys
from typing import Any

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


async def _serve(app: web.Application, path: str = "") -> None:
    """Serves `app` on a free port of 127.0.0.1, prints "READY <url><path>" and runs until terminated."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"READY http://127.0.0.1:{port}{path}", flush=True)
    await _until_stopped()
    await runner.cleanup()


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
    await _serve(app, PATH)
    await bot.session.close()


async def bare_webchat() -> None:
    """What `bench_core` measures with the storage taken out: the same frames over the same aiohttp websockets. A
    visitor's text frame is parsed and checked, acked to the visitor and sent to every agent socket watching its
    conversation; a visitor's first message announces the conversation to the agents ("inbox")."""
    agents: set[web.WebSocketResponse] = set()
    watching: dict[int, set[web.WebSocketResponse]] = {}
    ids = itertools.count(1)
    conversations: list[int] = []

    async def chat(_: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>chat</title>", content_type="text/html")

    async def visitor(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024)
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "org": {"name": "Bench"}, "history": []})
        conversation_id = 0
        async for msg in ws:
            frame: dict[str, Any] = json.loads(msg.data)
            text, client_id = frame.get("text"), frame.get("client_id")
            if frame.get("type") != "text" or not isinstance(text, str) or not text.strip() or not isinstance(client_id, str):
                await ws.send_json({"type": "error", "client_id": client_id, "error": "invalid"})
                continue
            if not conversation_id:
                conversation_id = next(ids)
                conversations.append(conversation_id)
                for agent in list(agents):
                    await agent.send_json({"type": "inbox", "conversation_id": conversation_id})
            message = {"conversation_id": conversation_id, "direction": "in", "author_type": "customer", "text": text}
            await ws.send_json({"type": "ack", "client_id": client_id, "message": message})
            for agent in list(watching.get(conversation_id, ())):
                await agent.send_json({"type": "message", "conversation_id": conversation_id, "message": message})
        if conversation_id:
            conversations.remove(conversation_id)
            watching.pop(conversation_id, None)
        return ws

    async def agent(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        agents.add(ws)
        for conversation_id in conversations:  # those of connected visitors, opened before this agent connected
            await ws.send_json({"type": "inbox", "conversation_id": conversation_id})
        try:
            async for msg in ws:
                frame = json.loads(msg.data)
                if frame.get("type") == "watch":
                    watching.setdefault(int(frame["conversation_id"]), set()).add(ws)
                    await ws.send_json({"type": "watching", "conversation_id": int(frame["conversation_id"])})  # as INCS
        finally:
            agents.discard(ws)
            for watchers in watching.values():
                watchers.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/chat", chat)
    app.router.add_get("/chat/ws", visitor)
    app.router.add_get("/workbench/ws", agent)
    await _serve(app)


def main(argv: list[str]) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)  # as `incs run` does (bot/cli.py): the same collector settings on both sides
    if argv[0] == "fake-telegram":
        asyncio.run(fake_telegram())
    elif argv[0] == "bare-echo":
        asyncio.run(bare_echo(argv[1]))
    elif argv[0] == "bare-webchat":
        asyncio.run(bare_webchat())
    else:
        raise SystemExit(f"unknown role {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
