"""Who is chatting: an anonymous visitor id in a signed cookie, within one organization."""

from __future__ import annotations

from aiohttp import web

from bot.context import AppContext
from bot.core.conversations.customers import find_identity
from bot.core.conversations.models import ChannelIdentity
from bot.core.orgs.models import Organization
from bot.core.orgs.organizations import get_organization_by_slug
from bot.core.storage.db import read_session
from bot.web import CTX, sign, unsign

CHANNEL = "webchat"
COOKIE = "incs_visitor"
PURPOSE = "webchat-visitor"
MAX_AGE = 365 * 24 * 3600


def visitor_of(request: web.Request) -> str | None:
    """The visitor id if the cookie is ours; None when missing, forged or truncated."""
    return unsign(request.app[CTX].settings.secret_key, PURPOSE, request.cookies.get(COOKIE))


def set_visitor_cookie(request: web.Request, response: web.StreamResponse, visitor: str, embedded: bool = False) -> None:
    """The one chat cookie. Inside the widget's frame on another site over HTTPS it is a partitioned (CHIPS)
    cookie, SameSite=None: browsers keep it per embedding site, so it tracks nothing across sites."""
    settings = request.app[CTX].settings
    value = sign(settings.secret_key, PURPOSE, visitor)
    if embedded and settings.server.secure_cookies:
        # Written by hand: Python's http.cookies knows the Partitioned attribute only from 3.14 on.
        response.headers.add(
            "Set-Cookie", f"{COOKIE}={value}; Max-Age={MAX_AGE}; Path=/chat; HttpOnly; Secure; SameSite=None; Partitioned"
        )
        return
    response.set_cookie(
        COOKIE, value, max_age=MAX_AGE, httponly=True, samesite="Lax", secure=settings.server.secure_cookies, path="/chat"
    )


async def org_of(ctx: AppContext, request: web.Request) -> Organization:
    slug = request.query.get("org") or ctx.settings.webchat.default_org
    async with read_session(ctx.factory) as session:
        return await get_organization_by_slug(session=session, slug=slug)


async def identity_of(ctx: AppContext, org_id: int, visitor: str) -> ChannelIdentity | None:
    async with read_session(ctx.factory) as session:
        return await find_identity(session=session, org_id=org_id, channel=CHANNEL, external_id=visitor)
