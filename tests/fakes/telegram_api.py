"""A fake Telegram Bot API server on loopback that the real aiogram HTTP stack talks to.

Serves getMe, getUpdates (long poll), setWebhook/deleteWebhook/getWebhookInfo, sendMessage,
sendDocument, sendPhoto, copyMessage, createForumTopic, answerCallbackQuery, getFile and file
downloads, editMessageText/editMessageCaption (of the bot's own messages, with Telegram's refusals),
setMyCommands/getMyCommands; records every call with its arrival time; injects 429 (retry_after), 5xx, 403,
400 and timeouts, by rule or at random; can deliver updates to a registered webhook.

With `limits` set (TelegramLimits(): Telegram's own, 30 messages/s overall, 1/s per private chat, 20/min
per group) a send over a limit is refused with 429 and retry_after, as Telegram does. `deliveries()` counts
accepted sends per (chat, text): a count above 1 is a message sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "123456:TEST-token-for-the-fake-api"
BOT_ID = 123456
SEND_METHODS = ("sendMessage", "sendPhoto", "sendDocument", "copyMessage")


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    result: Any = None
    content_type: str = ""  # how the parameters came: application/json or multipart/form-data

    @property
    def chat(self) -> str:
        return str(self.params.get("chat_id", ""))

    @property
    def ok(self) -> bool:
        return self.status == 200


class ApiRefusal(Exception):
    """A method's own refusal (400 with Telegram's wording), recorded on the call."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


@dataclass
class Fault:
    method: str
    status: int  # 0 = timeout (no answer before the client gives up)
    times: int = 1
    retry_after: int | None = None
    description: str = ""
    chat_id: str | None = None
    delay: float = 0.0
    only_html: bool = False


@dataclass
class RandomFaults:
    p429: float = 0.0
    p5xx: float = 0.0
    retry_after: int = 1
    rng: random.Random = field(default_factory=lambda: random.Random(7))


@dataclass
class TelegramLimits:
    per_second: int = 30  # sends per second over all chats
    per_chat_seconds: float = 1.0  # at most one send per this many seconds to one private chat
    group_per_minute: int = 20
    slack: float = 0.02  # loopback jitter forgiven between a client's send and its arrival here

    def __post_init__(self) -> None:
        self.overall: deque[float] = deque()
        self.chats: dict[str, float] = {}
        self.groups: dict[str, deque[float]] = {}

    def refuse(self, chat: str, at: float) -> int | None:
        """retry_after (whole seconds, as Telegram answers) if a send to `chat` at `at` is over a limit; else counts it."""
        while self.overall and self.overall[0] <= at - 1.0 + self.slack:
            self.overall.popleft()
        if len(self.overall) >= self.per_second:
            return 1
        if chat.startswith("-"):
            sent = self.groups.setdefault(chat, deque())
            while sent and sent[0] <= at - 60.0 + self.slack:
                sent.popleft()
            if len(sent) >= self.group_per_minute:
                return max(1, math.ceil(sent[0] + 60.0 - at))
            sent.append(at)
        else:
            last = self.chats.get(chat)
            if last is not None and at - last < self.per_chat_seconds - self.slack:
                return max(1, math.ceil(last + self.per_chat_seconds - at))
            self.chats[chat] = at
        self.overall.append(at)
        return None


class FakeTelegram:
    def __init__(self, token: str = TOKEN, limits: TelegramLimits | None = None) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.random: RandomFaults | None = None
        self.blocked: set[str] = set()
        self.deleted_threads: set[int] = set()
        self.updates: list[dict[str, Any]] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        self.webhook: dict[str, Any] = {}
        self.webhook_error: tuple[int, str] | None = None
        self.sizes: dict[str, int] = {}
        self.bot_messages: dict[tuple[str, int], dict[str, Any]] = {}  # what the bot sent, by (chat, message id)
        self.commands: dict[str, list[dict[str, Any]]] = {}  # setMyCommands by language_code ("" = default)
        self.latency = 0.0  # seconds before answering a send (to catch a stop mid-send)
        self.limits = limits
        self._next_update = 1000
        self._next_message = 1
        self._next_thread = 100
        self._new_update = asyncio.Event()
        self._stopping = asyncio.Event()  # set by stop(): open long polls and simulated hangs answer at once
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- lifecycle ----
    async def start(self, port: int = 0) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/_stats", self._stats)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        # The runner's cleanup waits for every open request: a long poll would hold it for its whole timeout.
        self._stopping.set()
        self._new_update.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- test controls ----
    def fail(self, method: str, status: int, **kwargs: Any) -> None:
        self.faults.append(Fault(method, status, **kwargs))

    def sent(self, chat_id: Any = None, methods: tuple[str, ...] = SEND_METHODS) -> list[Call]:
        return [c for c in self.calls if c.method in methods and c.ok and (chat_id is None or c.chat == str(chat_id))]

    def deliveries(self) -> Counter[tuple[str, str]]:
        """Accepted sendMessage calls per (chat, text); the texts of a burst are unique, so above 1 is a duplicate."""
        return Counter((c.chat, str(c.params.get("text", ""))) for c in self.calls if c.method == "sendMessage" and c.ok)

    def texts(self, chat_id: Any) -> list[str]:
        return [str(c.params.get("text") or c.params.get("caption") or "") for c in self.sent(chat_id)]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[Call]:  # noqa: ASYNC109 - a polling helper's deadline
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [c for c in self.calls if predicate(c)]
            if found:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError("the fake Bot API never saw the expected call")

    def edits(self, chat_id: Any) -> list[Call]:
        return [c for c in self.calls if c.method.startswith("editMessage") and c.ok and c.chat == str(chat_id)]

    def delete_message(self, chat_id: Any, message_id: int) -> None:
        """Someone deleted a message of the bot (in a topic, say): editing it is refused from now on."""
        self.bot_messages.pop((str(chat_id), int(message_id)), None)

    @staticmethod
    def edited(update: dict[str, Any], text: str | None = None, *, caption: str | None = None) -> dict[str, Any]:
        """The edited_message update for a message made with message(): new text (or caption), an edit date."""
        msg = dict(update["message"], edit_date=int(time.time()))
        if text is not None:
            msg["text"] = text
        if caption is not None:
            msg["caption"] = caption
        return {"edited_message": msg}

    def add_file(self, content: bytes, *, size: int | None = None) -> str:
        """A file customers can send; `size` overrides the reported size (to test the 20 MB limit)."""
        file_id = f"file{len(self.files) + 1}"
        self.files[file_id] = (content, f"documents/{file_id}.bin")
        if size is not None:
            self.sizes[file_id] = size
        return file_id

    def push(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; returns it (with its update_id)."""
        self._next_update += 1
        update = {"update_id": self._next_update, **body}
        self.updates.append(update)
        self._new_update.set()
        return update

    def message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        thread_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        self._next_message += 1
        uid = user_id if user_id is not None else chat_id
        msg: dict[str, Any] = {
            "message_id": self._next_message,
            "date": int(time.time()),
            "chat": {
                "id": chat_id,
                "type": chat_type,
                **({"first_name": "Ann"} if chat_type == "private" else {"title": "Agents"}),
            },
            "from": {"id": uid, "is_bot": False, "first_name": "Ann", "last_name": f"#{uid}", "language_code": "en"},
            **extra,
        }
        if chat_type == "supergroup":
            msg["chat"]["is_forum"] = True
        if text is not None:
            msg["text"] = text
            if text.startswith("/"):
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        return {"message": msg}

    async def deliver(self, update: dict[str, Any], secret: str | None = None) -> int:
        """POST an update to the registered webhook as Telegram does; returns the HTTP status."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook.get("secret_token", "") if secret is None else secret}
        async with aiohttp.ClientSession() as http:
            async with http.post(
                self.webhook["url"], data=json.dumps(update), headers={**headers, "Content-Type": "application/json"}
            ) as resp:
                if resp.status != 200:
                    self.webhook_error = (int(time.time()), f"Wrong response from the webhook: {resp.status}")
                return resp.status

    # ---- HTTP ----
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data = await request.json()
            return dict(data) if isinstance(data, dict) else {}
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = {"filename": value.filename, "content": value.file.read()}
            else:
                params[key] = _decode(str(value))
        return params

    def _fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self.faults:
            if fault.method != method or fault.times <= 0:
                continue
            if fault.chat_id is not None and str(params.get("chat_id")) != fault.chat_id:
                continue
            if fault.only_html and params.get("parse_mode") != "HTML":
                continue
            fault.times -= 1
            return fault
        if self.random and method in SEND_METHODS:
            roll = self.random.rng.random()
            if roll < self.random.p429:
                return Fault(method, 429, retry_after=self.random.retry_after)
            if roll < self.random.p429 + self.random.p5xx:
                return Fault(method, 502, description="Bad Gateway")
        return None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = Call(method, {}, time.monotonic())
        if request.match_info["token"] != self.token:
            return _error(404, "Not Found")
        call.params = await self._params(request)
        call.content_type = request.content_type
        self.calls.append(call)
        fault = self._fault(method, call.params)
        if fault is not None:
            if fault.status == 0:
                call.status = 0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), fault.delay or 5.0)
                return _error(504, "timeout")
            call.status = fault.status
            return _error(fault.status, fault.description or _DESCRIPTIONS.get(fault.status, "error"), fault.retry_after)
        chat = str(call.params.get("chat_id", ""))
        if method in SEND_METHODS and chat in self.blocked:
            call.status = 403
            return _error(403, "Forbidden: bot was blocked by the user")
        thread = call.params.get("message_thread_id")
        if method in SEND_METHODS and thread is not None and int(thread) in self.deleted_threads:
            call.status = 400
            return _error(400, "Bad Request: message thread not found")
        if method in SEND_METHODS and self.limits is not None:
            retry_after = self.limits.refuse(chat, call.at)
            if retry_after is not None:
                call.status = 429
                return _error(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        if method in SEND_METHODS and self.latency:
            await asyncio.sleep(self.latency)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            call.status = 404
            return _error(404, "Not Found: method not found")
        if method == "getUpdates":
            self.calls.remove(call)  # long polls would swamp the record
        try:
            call.result = await handler(call.params)
        except ApiRefusal as exc:
            call.status = exc.status
            return _error(exc.status, exc.description)
        return web.json_response({"ok": True, "result": call.result})

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        for content, stored in self.files.values():
            if stored == path:
                return web.Response(body=content)
        return web.Response(status=404)

    async def _stats(self, request: web.Request) -> web.Response:
        """For a benchmark running this fake in its own process: what arrived, when (time.monotonic, system-wide)."""
        sends = [c for c in self.calls if c.method == "sendMessage"]
        accepted = sorted(c.at for c in sends if c.ok)
        per_key = self.deliveries()
        span = 1.0 - (self.limits.slack if self.limits is not None else 0.0)  # a second as the limits judge it
        right = worst = 0
        for left, start in enumerate(accepted):
            while right < len(accepted) and accepted[right] < start + span:
                right += 1
            worst = max(worst, right - left)
        return web.json_response(
            {
                "accepted": len(accepted),
                "refused": sum(1 for c in sends if c.status == 429),
                "duplicates": sum(n - 1 for n in per_key.values() if n > 1),
                "first": accepted[0] if accepted else None,
                "last": accepted[-1] if accepted else None,
                "most_in_a_second": worst,
                **({"times": accepted, "sends": [(c.at, str(c.params.get("chat_id")), c.status) for c in sends]}
                   if request.query.get("times") else {}),
            }
        )

    # ---- methods ----
    async def _m_getMe(self, _p: dict[str, Any]) -> Any:
        return {"id": BOT_ID, "is_bot": True, "first_name": "INCS", "username": "incs_test_bot"}

    async def _m_getUpdates(self, p: dict[str, Any]) -> Any:
        offset = int(p.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        while not self.updates and not self._stopping.is_set() and time.monotonic() < deadline:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        return list(self.updates)

    async def _m_setWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = {"url": p.get("url"), "secret_token": p.get("secret_token", "")}
        return True

    async def _m_deleteWebhook(self, _p: dict[str, Any]) -> Any:
        self.webhook = {}
        return True

    async def _m_getWebhookInfo(self, _p: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        if self.webhook_error:
            info["last_error_date"], info["last_error_message"] = self.webhook_error
        return info

    def _message(self, p: dict[str, Any], **body: Any) -> dict[str, Any]:
        self._next_message += 1
        chat = str(p.get("chat_id"))
        kind = "supergroup" if chat.startswith("-") else "private"
        msg = {"message_id": self._next_message, "date": int(time.time()), "chat": {"id": int(chat), "type": kind}, **body}
        if p.get("message_thread_id") is not None:
            msg["message_thread_id"] = int(p["message_thread_id"])
        self.bot_messages[(chat, msg["message_id"])] = msg
        return msg

    async def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        return self._message(p, text=str(p.get("text", "")))

    async def _m_sendPhoto(self, p: dict[str, Any]) -> Any:
        photo = [{"file_id": "sent-photo", "file_unique_id": "sp", "width": 10, "height": 10}]
        return self._message(p, photo=photo, **({"caption": p["caption"]} if p.get("caption") else {}))

    async def _m_sendDocument(self, p: dict[str, Any]) -> Any:
        doc = p.get("document") or {}
        name = doc.get("filename", "file") if isinstance(doc, dict) else "file"
        return self._message(
            p,
            document={"file_id": "sent-doc", "file_unique_id": "sd", "file_name": name},
            **({"caption": p["caption"]} if p.get("caption") else {}),
        )

    async def _m_copyMessage(self, _p: dict[str, Any]) -> Any:
        self._next_message += 1
        return {"message_id": self._next_message}

    def _own(self, p: dict[str, Any]) -> dict[str, Any]:
        msg = self.bot_messages.get((str(p.get("chat_id")), int(p.get("message_id") or 0)))
        if msg is None:
            raise ApiRefusal(400, "Bad Request: message to edit not found")
        return msg

    async def _m_editMessageText(self, p: dict[str, Any]) -> Any:
        msg = self._own(p)
        if "text" not in msg:
            raise ApiRefusal(400, "Bad Request: there is no text in the message to edit")
        if msg["text"] == str(p.get("text", "")):
            raise ApiRefusal(400, "Bad Request: message is not modified: specified new message content is the same")
        msg.update(text=str(p.get("text", "")), edit_date=int(time.time()))
        return msg

    async def _m_editMessageCaption(self, p: dict[str, Any]) -> Any:
        msg = self._own(p)
        if "text" in msg:
            raise ApiRefusal(400, "Bad Request: there is no caption in the message to edit")
        if msg.get("caption") == p.get("caption"):
            raise ApiRefusal(400, "Bad Request: message is not modified: specified new message content is the same")
        msg.update(caption=str(p.get("caption") or ""), edit_date=int(time.time()))
        return msg

    async def _m_setMyCommands(self, p: dict[str, Any]) -> Any:
        commands = p.get("commands") or []
        if not commands or any(not str(c.get("description", "")).strip() for c in commands):
            raise ApiRefusal(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[str(p.get("language_code") or "")] = list(commands)
        return True

    async def _m_getMyCommands(self, p: dict[str, Any]) -> Any:
        return self.commands.get(str(p.get("language_code") or ""), [])

    async def _m_createForumTopic(self, p: dict[str, Any]) -> Any:
        self._next_thread += 1
        return {"message_thread_id": self._next_thread, "name": p.get("name", ""), "icon_color": 7322096}

    async def _m_answerCallbackQuery(self, _p: dict[str, Any]) -> Any:
        return True

    async def _m_getFile(self, p: dict[str, Any]) -> Any:
        file_id = str(p.get("file_id"))
        if file_id not in self.files:
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}),
                content_type="application/json",
            )
        content, path = self.files[file_id]
        size = self.sizes.get(file_id, len(content))
        if size > 20 * 1024 * 1024:
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: file is too big"}),
                content_type="application/json",
            )
        return {"file_id": file_id, "file_unique_id": file_id + "u", "file_size": size, "file_path": path}


_DESCRIPTIONS = {
    429: "Too Many Requests",
    403: "Forbidden: bot was blocked by the user",
    500: "Internal Server Error",
    502: "Bad Gateway",
    400: "Bad Request",
}


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


def _decode(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


async def _serve(port: int, limits: bool) -> None:
    fake = await FakeTelegram(limits=TelegramLimits() if limits else None).start(port)
    print(fake.url, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":  # a stand-in in its own process: python -m tests.fakes.telegram_api PORT [--limits]
    import sys

    asyncio.run(_serve(int(sys.argv[1]), "--limits" in sys.argv))
