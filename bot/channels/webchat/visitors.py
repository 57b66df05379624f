"""Who is chatting: an anonymous visitor id in a signed cookie, within one organization."""

from __future__ import annotations

from aiohttp import web

from bot.context import AppContext
from bot.core.conversations.customers import find_identity
from bot.core.models import ChannelIdentity, Organization
from bot.core.orgs.organizations import get_organization_by_slug
from bot.web import CTX, sign, unsign

CHANNEL = "webchat"
COOKIE = "incs_visitor"
PURPOSE = "webchat-visitor"


def visitor_of(request: web.Request) -> str | None:
    """The visitor id if the cookie is ours; None when missing, forged or truncated."""
    return unsign(request.app[CTX].settings.secret_key, PURPOSE, request.cookies.get(COOKIE))


def set_visitor_cookie(request: web.Request, response: web.StreamResponse, visitor: str) -> None:
    settings = request.app[CTX].settings
    response.set_cookie(
        COOKIE,
        sign(settings.secret_key, PURPOSE, visitor),
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=settings.server.secure_cookies,
        path="/chat",
    )


async def org_of(ctx: AppContext, request: web.Request) -> Organization:
    slug = request.query.get("org") or ctx.settings.webchat.default_org
    async with ctx.factory() as session:
        return await get_organization_by_slug(session=session, slug=slug)


async def identity_of(ctx: AppContext, org_id: int, visitor: str) -> ChannelIdentity | None:
    async with ctx.factory() as session:
        return await find_identity(session=session, org_id=org_id, channel=CHANNEL, external_id=visitor)
