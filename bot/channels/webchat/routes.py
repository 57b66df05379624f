"""Web chat: the page and the websocket (uploads and files: files.py).

A visitor is an anonymous identity in a signed cookie; a forged or missing cookie gets a new
visitor on the page and a 401 on the socket and the upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from typing import Any

from aiohttp import WSMsgType, web

from bot.channels.webchat.files import upload, visitor_file
from bot.channels.webchat.texts import chat_strings
from bot.channels.webchat.visitors import CHANNEL, identity_of, org_of, set_visitor_cookie, visitor_of
from bot.channels.webchat.widget import setup as setup_widget
from bot.context import AppContext
from bot.core.common.errors import DomainError, InvalidInput, Unauthorized
from bot.core.conversations.customers import get_customer
from bot.core.conversations.events import InboundEvent
from bot.core.conversations.serialize import message_json
from bot.core.conversations.threads import customer_history
from bot.core.delivery.outbox import reply_payloads
from bot.core.orgs.models import Organization
from bot.core.security.payloads import parse_json
from bot.core.storage.db import read_session
from bot.core.widget import get_widget
from bot.i18n import LOCALES, error_text
from bot.pages import LOCALE, render_page, request_locale
from bot.web import CTX, track_socket

log = logging.getLogger(__name__)
MAX_FRAME = 64 * 1024


async def chat_page(request: web.Request) -> web.StreamResponse:
    """The chat, in the customer's chosen language (or, on a first visit, the browser's)."""
    ctx = request.app[CTX]
    org = await org_of(ctx, request)
    visitor = visitor_of(request)
    identity = await identity_of(ctx, org.id, visitor) if visitor else None
    if identity is not None:
        async with read_session(ctx.factory) as session:
            customer = await get_customer(session=session, org_id=org.id, customer_id=identity.customer_id)
        request[LOCALE] = customer.locale
    else:
        request[LOCALE] = request_locale(request, ctx.settings.locale)
    strings = {code: chat_strings(code) for code in LOCALES}
    async with read_session(ctx.factory) as session:
        widget = await get_widget(session=session, org_id=org.id)
    response = render_page(request, "webchat/chat.html", org=org, max_upload=ctx.settings.webchat.max_upload_bytes,
                           strings=strings, widget=widget, embedded=request.query.get("embed") == "1",
                           returning=identity is not None)
    if visitor is None:
        set_visitor_cookie(request, response, secrets.token_urlsafe(16), embedded=request.query.get("embed") == "1")
    return response


async def chat_socket(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    visitor = visitor_of(request)
    if visitor is None:
        raise Unauthorized("no web chat session; reload the page")
    org = await org_of(ctx, request)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    track_socket(request, ws)
    chosen = request.query.get("lang", "")  # the page's language now (the customer's choice, or the browser's)
    session = ChatSession(ctx, ws, org, visitor, chosen if chosen in LOCALES else request_locale(request, ctx.settings.locale))
    try:
        await session.run()
    finally:
        session.close_all()
    return ws


class ChatSession:
    """One open tab: forwards live events to the socket and frames from it to the ingest path."""

    def __init__(self, ctx: AppContext, ws: web.WebSocketResponse, org: Organization, visitor: str, locale: str) -> None:
        self.ctx = ctx
        self.locale = locale  # the browser's language: a new customer starts in it
        self.ws = ws
        self.org = org
        self.visitor = visitor
        self.customer_id: int | None = None
        self.tab = secrets.token_hex(8)
        self.greeted = asyncio.Event()
        self.conversation_id: int | None = None
        self.sub: Any = None
        self.pump: asyncio.Task[None] | None = None
        self.waiting: Any = None  # before the visitor's first message: told when another tab makes the identity
        self.waiter: asyncio.Task[None] | None = None

    async def run(self) -> None:
        identity = await identity_of(self.ctx, self.org.id, self.visitor)
        history: list[dict[str, Any]] = []
        if identity is None:
            self.waiting = self.ctx.hub.subscribe(visitor_topic(self.org.id, self.visitor))
            self.waiter = asyncio.create_task(self._wait_for_identity())
        else:
            self._follow(identity.customer_id)
            async with read_session(self.ctx.factory) as session:
                rows = await customer_history(
                    session=session, org_id=self.org.id, customer_id=identity.customer_id, limit=self.ctx.settings.webchat.history_limit
                )
                history = [message_json(m) for m in rows]
                await _attach_buttons(session, history)
            self.conversation_id = history[-1]["conversation_id"] if history else None
        await self.ws.send_json(
            {"type": "hello", "org": {"name": self.org.name, "brand": self.org.brand, "website": self.org.website}, "history": history}
        )
        self.greeted.set()  # live events (subscribed before the history was read, so none is missed) may flow now
        async for frame in self.ws:
            if frame.type != WSMsgType.TEXT:
                if frame.type == WSMsgType.BINARY:
                    await self._error(None, InvalidInput("binary frames are not accepted"))
                continue
            await self._on_frame(frame.data)

    def _follow(self, customer_id: int) -> None:
        if self.customer_id == customer_id:
            return
        self.close()
        self.customer_id = customer_id
        self.sub = self.ctx.hub.subscribe(f"customer:{customer_id}")
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        assert self.sub is not None
        await self.greeted.wait()
        async for event in self.sub:
            if self.ws.closed:
                return
            if "origin" in event:
                if event["origin"] == self.tab:
                    continue  # this tab has the message from its ack already
                event = {key: value for key, value in event.items() if key != "origin"}
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_json(event)

    async def _wait_for_identity(self) -> None:
        """Another tab of this visitor sent the first message: follow that customer and catch up on history."""
        assert self.waiting is not None
        await self.greeted.wait()
        async for event in self.waiting:
            if event.get("type") == "identity" and self.customer_id is None and not self.ws.closed:
                self._follow(int(event["customer_id"]))
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._send_history()
            return

    def close(self) -> None:
        if self.sub is not None:
            self.sub.close()
        if self.pump is not None:
            self.pump.cancel()

    def close_all(self) -> None:
        self.close()
        if self.waiting is not None:
            self.waiting.close()
        if self.waiter is not None and self.waiter is not asyncio.current_task():
            self.waiter.cancel()

    async def _on_frame(self, data: str) -> None:
        client_id = None
        try:
            frame = parse_json(data)  # bounded nesting, no lone surrogates
            if not isinstance(frame, dict):
                raise InvalidInput("a frame is a JSON object")
            client_id = _client_id(frame.get("client_id"))
            if frame.get("type") == "typing":
                await self._typing()
                return
            event = self._event(frame)
            result = await self.ctx.ingestor.submit(event)
        except DomainError as exc:
            await self._error(client_id, exc)
            return
        previous = self.customer_id
        self.conversation_id = result.conversation_id
        self._follow(result.customer_id)
        await self.ws.send_json({"type": "ack", "client_id": client_id, "message": result.message})
        if previous is None:  # this visitor's first message, maybe: tabs opened before it start following now
            await self.ctx.hub.publish(visitor_topic(self.org.id, self.visitor), {"type": "identity", "customer_id": result.customer_id})
        if previous is not None and previous != result.customer_id:
            await self._send_history()  # linked to another customer (identity check): show the whole shared history

    def _event(self, frame: dict[str, Any]) -> InboundEvent:
        kind = frame.get("type")
        client_id = _client_id(frame.get("client_id"))
        base: dict[str, Any] = {
            "org_id": self.org.id,
            "channel": CHANNEL,
            "external_id": self.visitor,
            "extra": {"origin": self.tab},
            # The client's id is the idempotency key: a frame resent after a dropped connection is stored once.
            "platform_message_id": f"client:{client_id}" if client_id is not None else None,
            "locale": self.locale,
        }
        if kind == "text":
            name = " ".join(_str(frame, "name").split())[:200]  # the widget's optional pre-chat name
            return InboundEvent(kind="text", text=_str(frame, "text"), display_name=name, **base)
        if kind == "button":
            payload = _str(frame, "payload")[:200]
            if payload.startswith("lang:") and payload[5:] in LOCALES:
                self.locale = payload[5:]  # the customer switched the chat's language: errors follow
            return InboundEvent(kind="button", text=_str(frame, "label")[:200] or payload, payload=payload, **base)
        if kind == "location":
            try:
                lat, lon = float(frame["latitude"]), float(frame["longitude"])
            except (KeyError, TypeError, ValueError):
                raise InvalidInput("a location needs numeric latitude and longitude") from None
            return InboundEvent(kind="location", latitude=lat, longitude=lon, **base)
        raise InvalidInput("unknown frame type")

    async def _typing(self) -> None:
        """The customer is typing: agents on the conversation see it (nothing is stored)."""
        if self.conversation_id is not None:
            await self.ctx.hub.publish(f"conv:{self.conversation_id}", {"type": "typing", "conversation_id": self.conversation_id})

    async def _send_history(self) -> None:
        assert self.customer_id is not None
        async with read_session(self.ctx.factory) as session:
            rows = await customer_history(
                session=session, org_id=self.org.id, customer_id=self.customer_id, limit=self.ctx.settings.webchat.history_limit
            )
            history = [message_json(m) for m in rows]
            await _attach_buttons(session, history)
        await self.ws.send_json({"type": "history", "history": history})

    async def _error(self, client_id: Any, exc: DomainError) -> None:
        message = error_text(exc, self.locale)
        await self.ws.send_json({"type": "error", "client_id": client_id, "error": exc.code, "message": message})


def visitor_topic(org_id: int, visitor: str) -> str:
    """The live topic of one visitor's tabs (hashed: the visitor id is the cookie's secret part)."""
    return f"visitor:{org_id}:{hashlib.sha256(visitor.encode()).hexdigest()[:24]}"


def _client_id(value: Any) -> str | int | None:
    """Echoed back in acks and errors: a short string or an integer, else dropped."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and len(value) <= 100):
        return value
    return None


def _str(frame: dict[str, Any], key: str) -> str:
    value = frame.get(key, "")
    if not isinstance(value, str):
        raise InvalidInput("%(field)s must be a string", field=key)
    return value


async def _attach_buttons(session: Any, history: list[dict[str, Any]]) -> None:
    """Bot messages in history keep their buttons (stored in the outbox payload)."""
    payloads = await reply_payloads(session=session, message_ids=[m["id"] for m in history if m["author"] in ("bot", "agent")])
    for message in history:
        payload = payloads.get(message["id"])
        if payload:
            message["buttons"] = payload.get("buttons", [])
            message["reply_kind"] = payload.get("kind", "text")
            message["data"] = payload.get("data", {})


def setup(app: web.Application, ctx: AppContext) -> None:
    app.router.add_get("/chat", chat_page)
    app.router.add_get("/chat/ws", chat_socket)
    app.router.add_post("/chat/upload", upload)
    app.router.add_get("/chat/files/{attachment_id}", visitor_file)
    setup_widget(app)
