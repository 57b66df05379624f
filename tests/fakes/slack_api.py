"""A fake Slack Web API on loopback that the real slack_sdk client talks to.

Records every call; `fail(method, status, retry_after)` makes the next call of a method answer
429 (with Retry-After) or 5xx. Serves the file upload URL and private file downloads too.

Socket Mode as Slack runs it: apps.connections.open (app-level `xapp-` token only) hands out a one-use
ws:// URL on this server; the socket says `hello`, answers pings, and the test pushes envelopes
(`push_event`) or a `disconnect` over it. Every client frame with an envelope_id is recorded as an ack.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

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
    acks: list[dict[str, Any]] = field(default_factory=list)  # Socket Mode frames that carry an envelope_id
    sockets: list[web.WebSocketResponse] = field(default_factory=list)  # open Socket Mode connections, newest last
    connections: int = 0  # Socket Mode connections ever opened
    downloads: int = 0  # private file downloads asked for
    download_gate: asyncio.Event | None = None  # when set: downloads wait for it (an event still in flight)
    _tickets: set[str] = field(default_factory=set)

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

    async def start(self, port: int | None = None) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files/{file_id}", self._download)
        app.router.add_get("/link/", self._socket)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
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
        self.downloads += 1
        if self.download_gate is not None:
            await self.download_gate.wait()
        content = self.files.get(request.match_info["file_id"])
        return web.Response(body=content) if content is not None else web.Response(status=404)

    # -- Socket Mode --

    def m_apps_connections_open(self, _args: dict[str, Any]) -> dict[str, Any]:
        if not self.calls[-1].token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        return {"url": f"ws{self.url.removeprefix('http')}/link/?ticket={ticket}&app_id=A0APP"}

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401)
        self._tickets.discard(ticket)  # one use, as Slack's
        ws = web.WebSocketResponse(autoping=True)  # answers the SDK's pings with pongs
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connections += 1
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self.sockets),
                    "debug_info": {"host": "fake-applink", "build_number": 1, "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0APP"},
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    frame = json.loads(msg.data)
                    if isinstance(frame, dict) and "envelope_id" in frame:
                        self.acks.append(frame)
        finally:
            self.sockets.remove(ws)
        return ws

    async def wait_socket(self, connections: int = 1, seconds: float = 5.0) -> web.WebSocketResponse:
        """The newest open socket, once at least `connections` were ever opened."""
        async with asyncio.timeout(seconds):
            while self.connections < connections or not self.sockets:  # noqa: ASYNC110 - polling a fake
                await asyncio.sleep(0.02)
        return self.sockets[-1]

    async def push(self, envelope: dict[str, Any]) -> None:
        await (await self.wait_socket()).send_json(envelope)

    async def push_event(
        self,
        event: dict[str, Any],
        event_id: str,
        *,
        team: str = TEAM,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """An events_api envelope around an event_callback, as Slack sends it; returns its envelope_id."""
        envelope_id = envelope_id or str(uuid.uuid4())
        payload = {
            "token": "x",
            "team_id": team,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": team, "user_id": BOT_USER, "is_bot": True}],
        }
        await self.push(
            {
                "envelope_id": envelope_id,
                "type": "events_api",
                "payload": payload,
                "accepts_response_payload": False,
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason,
            }
        )
        return envelope_id

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's notice that this connection ends soon; the client is expected to open a new one."""
        await self.push({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-applink"}})

    def acked(self, envelope_id: str) -> list[dict[str, Any]]:
        return [a for a in self.acks if a.get("envelope_id") == envelope_id]

    async def wait_ack(self, envelope_id: str, seconds: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(seconds):
            while not self.acked(envelope_id):  # noqa: ASYNC110 - polling a fake
                await asyncio.sleep(0.02)
        return self.acked(envelope_id)[0]
