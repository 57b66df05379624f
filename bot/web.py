"""Small helpers shared by the aiohttp routes of web chat, workbench and channel webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import weakref

from aiohttp import WSCloseCode, web

from bot.context import AppContext

CTX = web.AppKey("incs_ctx", AppContext)


class OpenSockets:
    """The app's open websockets (weakly held), closed on shutdown."""

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.closing = False  # set by shut_sockets: a socket opened after it is closed at once
        self._late: set[asyncio.Task[bool]] = set()

    def add(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)
        if self.closing:  # opened during shutdown (its handler was past its checks): not left for the shutdown timeout
            task = asyncio.get_running_loop().create_task(_going_away(ws))
            self._late.add(task)
            task.add_done_callback(self._late.discard)

    def all(self) -> list[web.WebSocketResponse]:
        return list(self._sockets)


SOCKETS = web.AppKey("incs_sockets", OpenSockets)


def track_socket(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Open sockets are closed on shutdown, so a restart does not wait on idle browsers."""
    request.app[SOCKETS].add(ws)


async def close_sockets(app: web.Application) -> None:
    for ws in app[SOCKETS].all():
        await _going_away(ws)


async def shut_sockets(app: web.Application) -> None:
    """On shutdown: close the open sockets, and from now on each socket as soon as it is opened."""
    app[SOCKETS].closing = True
    await close_sockets(app)


async def _going_away(ws: web.WebSocketResponse) -> bool:
    return await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server restarting")


def wants_json(request: web.Request) -> bool:
    """API paths and clients that ask for JSON; a browser navigating anywhere (a chat file included) gets a page."""
    if request.path.startswith(("/chat/ws", "/chat/upload", "/workbench/ws", "/telegram/", "/slack/", "/api/")):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def sign(secret: str, purpose: str, value: str) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{mac}"


def unsign(secret: str, purpose: str, signed: str | None) -> str | None:
    """The value if the signature is ours, else None (forged, truncated or for another purpose)."""
    if not signed or "." not in signed:
        return None
    value, _, _mac = signed.rpartition(".")
    expected = sign(secret, purpose, value)
    return value if hmac.compare_digest(expected, signed) else None


def sign_until(secret: str, purpose: str, value: str, expires_at: int) -> str:
    """A signature that also covers an expiry (Unix seconds): `value~expires.mac`. `unsign` callers are unaffected."""
    return sign(secret, purpose, f"{value}~{expires_at}")


def unsign_fresh(secret: str, purpose: str, signed: str | None, now_ts: float) -> tuple[str | None, bool]:
    """(value, expired): the value when the signature is ours and not past its expiry; expired=True when it was
    ours but is too old (so the caller can say so); (None, False) for anything forged or malformed."""
    inner = unsign(secret, purpose, signed)
    if inner is None or "~" not in inner:
        return None, False
    value, _, expiry = inner.rpartition("~")
    if not expiry.isdigit():
        return None, False
    if now_ts > int(expiry):
        return None, True
    return value, False
