"""A fake Slack Web API on loopback that the real slack_sdk client talks to.

Records every call; `fail(method, status, retry_after)` makes the next call of a method answer
429 (with Retry-After) or 5xx. Serves the file upload URL and private file downloads too.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

BOT_USER = "UBOT0001"
TEAM = "T0TEAM001"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    _failures: dict[str, list[tuple[int, float | None]]] = field(default_factory=lambda: defaultdict(list))
    _ts: int = 1000
    url: str = ""
    runner: web.AppRunner | None = None

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/"

    def fail(self, method: str, status: int, retry_after: float | None = None, times: int = 1) -> None:
        self._failures[method].extend([(status, retry_after)] * times)

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, seconds: float = 5.0) -> list[Call]:
        async with asyncio.timeout(seconds):
            while len(self.called(method)) < count:  # noqa: ASYNC110 - polling a fake
                await asyncio.sleep(0.02)
        return self.called(method)

    async def wait_until(self, match: Callable[[Call], bool], method: str = "chat.postMessage", seconds: float = 5.0) -> Call:
        """The first recorded call of `method` that matches, waiting for it if need be."""
        async with asyncio.timeout(seconds):
            while True:
                for call in self.called(method):
                    if match(call):
                        return call
                await asyncio.sleep(0.02)

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files/{file_id}", self._download)
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

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.text()
            if request.content_type == "application/json":
                args.update(json.loads(raw or "{}"))
            else:
                args.update(dict(parse_qsl(raw, keep_blank_values=True)))
        for key in ("blocks", "files"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.calls.append(Call(method, await self._args(request), token))
        if self._failures.get(method):
            status, retry_after = self._failures[method].pop(0)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            error = "ratelimited" if status == 429 else "internal_error"
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response({"ok": True, **handler(self.calls[-1].args)})

    def _next_ts(self) -> str:
        self._ts += 1
        return f"1700000000.{self._ts:06d}"

    def m_auth_test(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "incs",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": "B0BOT001",
        }

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": args.get("channel"), "ts": self._next_ts(), "message": {"text": args.get("text", "")}}

    def m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": "D" + str(args.get("users", "X"))[1:]}}

    def m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"user": user}

    def m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{len(self.uploads) + 1:05d}"
        self.uploads[file_id] = b""
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files") or []
        return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK")

    async def _download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "") == "":
            return web.Response(status=403)
        content = self.files.get(request.match_info["file_id"])
        return web.Response(body=content) if content is not None else web.Response(status=404)
