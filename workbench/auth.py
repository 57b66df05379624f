"""Agent sessions, CSRF, login throttling and page permissions for the workbench.

Every page declares what it needs (`@agent_page(permission=Permission.TEAM_MANAGE)`; bare `@agent_page`
means `Permission.WORKBENCH`, the organization's own inbox). The decorator checks the signed-in agent's
role against bot/core/orgs/permissions.py before the handler runs, so a platform admin (no organization)
never reaches an organization page and an agent never reaches an admin page.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import overload

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import Forbidden, InvalidInput, Unauthorized
from bot.core.common.ratelimit import SlidingWindow
from bot.core.orgs.agents import session_agent
from bot.core.orgs.models import Agent
from bot.core.orgs.permissions import Permission, require
from bot.core.orgs.totp import totp_missing
from bot.core.security.password_pool import PasswordPool
from bot.core.security.throttle import LoginThrottle
from bot.core.storage.db import read_session, transaction
from bot.core.storage.tenancy import org_session, org_transaction
from bot.web import CTX

SESSION_COOKIE = "incs_session"
LOGIN_CSRF_COOKIE = "incs_login_csrf"
LIMITER = web.AppKey("incs_login_limiter", LoginThrottle)
TOTP_LIMITER = web.AppKey("incs_totp_limiter", SlidingWindow)  # wrong second-step codes per agent
PASSWORDS = web.AppKey("incs_password_pool", PasswordPool)
AGENT = web.RequestKey("incs_agent", Agent)
CSRF = web.RequestKey("incs_csrf", str)
TOTP_MISSING = web.RequestKey("incs_totp_missing", bool)

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
    async with read_session(ctx.factory) as session:  # reads only: no BEGIN and ROLLBACK around them on PostgreSQL
        try:
            agent, row = await session_agent(session=session, token=token)
        except Unauthorized:
            raise _to_login(request) from None
        request[TOTP_MISSING] = await totp_missing(session=session, agent=agent)
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


PERMISSION_ATTR = "incs_permission"


@overload
def agent_page(handler: Handler, /) -> Handler: ...
@overload
def agent_page(*, permission: Permission = Permission.WORKBENCH) -> Callable[[Handler], Handler]: ...
def agent_page(
    handler: Handler | None = None, /, *, permission: Permission = Permission.WORKBENCH
) -> Handler | Callable[[Handler], Handler]:
    """Decorator: signed-in agents whose role holds `permission`; POSTs also need the session's CSRF token."""

    def decorate(inner: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            await load_agent(request)
            if request.method == "POST":
                await check_csrf(request)
            require(request[AGENT].role, permission)
            if request[TOTP_MISSING] and permission is not Permission.ACCOUNT:
                # The organization requires two-factor login for admins: only the account page until it is on.
                raise web.HTTPSeeOther("/workbench/account")
            return await inner(request)

        wrapped.__name__ = inner.__name__
        setattr(wrapped, PERMISSION_ATTR, permission)
        return wrapped

    return decorate(handler) if handler is not None else decorate


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The posted form; a body cut short or without a proper boundary is the client's fault (400), not ours."""
    try:
        return await request.post()
    except (ValueError, AssertionError):
        raise InvalidInput("the form is incomplete or malformed") from None


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def agent_session(request: web.Request) -> AbstractAsyncContextManager[AsyncSession]:
    """A read session scoped to the signed-in agent's organization: other organizations' rows are not there.

    A platform admin belongs to no organization; the permission table lets them reach only their own account and
    notifications (queried by their own id) and the platform pages, so their session is not organization-scoped."""
    agent = request[AGENT]
    if agent.org_id is None:
        return _plain_session(request)
    return org_session(request.app[CTX].factory, agent.org_id)


def agent_transaction(request: web.Request) -> AbstractAsyncContextManager[AsyncSession]:
    """A unit of work scoped to the signed-in agent's organization (a platform admin's: see agent_session)."""
    agent = request[AGENT]
    if agent.org_id is None:
        return transaction(request.app[CTX].factory)
    return org_transaction(request.app[CTX].factory, agent.org_id)


def _plain_session(request: web.Request) -> AbstractAsyncContextManager[AsyncSession]:
    return request.app[CTX].factory()
