"""Small helpers shared by the aiohttp routes of web chat, workbench and channel webhooks."""

from __future__ import annotations

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

    def add(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)

    def all(self) -> list[web.WebSocketResponse]:
        return list(self._sockets)


SOCKETS = web.AppKey("incs_sockets", OpenSockets)


def track_socket(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Open sockets are closed on shutdown, so a restart does not wait on idle browsers."""
    request.app[SOCKETS].add(ws)


async def close_sockets(app: web.Application) -> None:
    for ws in app[SOCKETS].all():
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server restarting")


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
