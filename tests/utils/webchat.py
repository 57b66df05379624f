"""A web chat visitor over real HTTP and websocket, as the browser widget talks."""

from __future__ import annotations

import asyncio
import io
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp

# How long a visitor waits for what it expects. Every wait ends as soon as its event arrives; on a machine busy
# with other work (two pytest workers and more) an answer can take longer than a quiet machine's second or two.
WAIT = 20.0


class Visitor:
    def __init__(self, base: str, org: str = "demo", http: aiohttp.ClientSession | None = None) -> None:
        self.base = base
        self.org = org
        self.http = http or aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.hello: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self._counter = 0
        self._tab = secrets.token_hex(4)

    async def open(self) -> Visitor:
        async with self.http.get(f"{self.base}/chat", params={"org": self.org}) as resp:
            assert resp.status == 200
        self.ws = await self.http.ws_connect(f"{self.base}/chat/ws?org={self.org}")
        self.hello = await self.ws.receive_json(timeout=WAIT)
        assert self.hello["type"] == "hello"
        return self

    async def send(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Sends a frame; returns the server's ack or error for it."""
        assert self.ws is not None
        self._counter += 1
        client_id = f"t{self._tab}-{self._counter}"  # unique across tabs and page loads, as chat.js makes them
        await self.ws.send_json({**frame, "client_id": client_id})
        return await self.wait(lambda e: e.get("client_id") == client_id and e["type"] in ("ack", "error"))

    async def say(self, text: str) -> dict[str, Any]:
        return await self.send({"type": "text", "text": text})

    async def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float = WAIT) -> dict[str, Any]:
        for event in self.events:
            if match(event):
                self.events.remove(event)
                return event
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"socket closed: {msg}")
                received: dict[str, Any] = msg.json()
                if match(received):
                    return received
                self.events.append(received)

    async def wait_message(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT) -> dict[str, Any]:
        event = await self.wait(lambda e: e["type"] == "message" and predicate(e["message"]), timeout)
        message: dict[str, Any] = event["message"]
        return message

    async def upload(self, filename: str, content: bytes, mime: str) -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("file", io.BytesIO(content), filename=filename, content_type=mime)
        async with self.http.post(f"{self.base}/chat/upload", params={"org": self.org}, data=form) as resp:
            return resp.status, await resp.json()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()
