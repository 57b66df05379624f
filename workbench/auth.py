"""Agent sessions, CSRF and login throttling for the workbench."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import MultiDictProxy

from bot.core.agents import session_agent
from bot.core.errors import Forbidden, InvalidInput, Unauthorized
from bot.core.hardening.password_pool import PasswordPool
from bot.core.hardening.throttle import LoginThrottle
from bot.core.models import Agent
from bot.web import CTX

SESSION_COOKIE = "incs_session"
LOGIN_CSRF_COOKIE = "incs_login_csrf"
LIMITER = web.AppKey("incs_login_limiter", LoginThrottle)
PASSWORDS = web.AppKey("incs_password_pool", PasswordPool)
AGENT = web.RequestKey("incs_agent", Agent)
CSRF = web.RequestKey("incs_csrf", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="Strict",
        secure=request.app[CTX].settings.server.secure_cookies,
        path="/workbench",
    )


async def load_agent(request: web.Request) -> None:
    """Puts the signed-in agent on the request, or raises HTTPFound to the login page."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise _to_login(request)
    ctx = request.app[CTX]
    async with ctx.factory() as session:
        try:
            agent, row = await session_agent(session=session, token=token)
        except Unauthorized:
            raise _to_login(request) from None
    request[AGENT] = agent
    request[CSRF] = row.csrf_token


def _to_login(request: web.Request) -> web.HTTPException:
    if request.path.startswith("/workbench/ws") or "application/json" in request.headers.get("Accept", ""):
        return web.HTTPUnauthorized(text='{"error": "unauthorized"}', content_type="application/json")
    return web.HTTPFound("/workbench/login")


async def check_csrf(request: web.Request) -> None:
    expected = request.get(CSRF, "")
    given = request.headers.get("X-CSRF-Token", "")
    if not given and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await read_form(request)
        value = form.get("csrf_token", "")
        given = value if isinstance(value, str) else ""
    if not expected or not hmac.compare_digest(expected, given):
        raise Forbidden("the form has expired or did not come from this site; reload the page and try again")


def agent_page(handler: Handler) -> Handler:
    """Decorator: signed-in agents only; POSTs also need the session's CSRF token."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        await load_agent(request)
        if request.method == "POST":
            await check_csrf(request)
        return await handler(request)

    wrapped.__name__ = handler.__name__
    return wrapped


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The posted form; a body cut short or without a proper boundary is the client's fault (400), not ours."""
    try:
        return await request.post()
    except (ValueError, AssertionError):
        raise InvalidInput("the form is incomplete or malformed") from None


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)
