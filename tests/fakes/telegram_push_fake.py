"""A minimal fake Telegram Bot API (sendMessage only) for admin push tests; records each message."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeTelegramPush:
    sent: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[tuple[int, int | None]] = field(default_factory=list)  # (status, retry_after)
    url: str = ""
    runner: web.AppRunner | None = None

    async def start(self) -> FakeTelegramPush:
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._send)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.fail_next:
            status, retry_after = self.fail_next.pop(0)
            params = {"retry_after": retry_after} if retry_after is not None else {}
            return web.json_response(
                {"ok": False, "error_code": status, "description": "fail", "parameters": params}, status=status
            )
        self.sent.append({"token": request.match_info["token"], **body})
        return web.json_response({"ok": True, "result": {"message_id": len(self.sent), "chat": {"id": body["chat_id"]}}})
