"""Web chat pieces of the embeddable widget: the brand-colour stylesheet (a file, so the page keeps its strict
CSP without inline styles) and the pre-chat form's answers."""

from __future__ import annotations

from aiohttp import web

from bot.channels.webchat.visitors import identity_of, org_of, visitor_of
from bot.core.common.errors import InvalidInput, NotFound, Unauthorized
from bot.core.conversations.live import publish_message
from bot.core.conversations.serialize import message_json
from bot.core.storage.db import transaction
from bot.core.widget import get_widget, record_prechat, text_color
from bot.web import CTX


async def theme_css(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    org = await org_of(ctx, request)
    async with ctx.factory() as session:
        widget = await get_widget(session=session, org_id=org.id)
    color, ink = widget.brand_color, text_color(widget.brand_color)
    css = (
        f":root {{ --brand: {color}; --brand-ink: {ink}; }}\n"
        ".chat-head, .chat .msg-in { background: var(--brand); color: var(--brand-ink); }\n"
        ".chat-head a, .chat .msg-in a, .chat .msg-in .meta { color: var(--brand-ink); }\n"
        ".brand-card { border-left-color: var(--brand); }\n"
    )
    return web.Response(text=css, content_type="text/css", headers={"Cache-Control": "max-age=60"})


async def prechat(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    visitor = visitor_of(request)
    if visitor is None:
        raise Unauthorized("no web chat session; reload the page")
    org = await org_of(ctx, request)
    identity = await identity_of(ctx, org.id, visitor)
    if identity is None:
        raise NotFound("write a first message before the form is saved")
    try:
        body = await request.json()
        name, email = str(body.get("name", "")), str(body.get("email", ""))
    except (ValueError, AttributeError):
        raise InvalidInput("send the form as a JSON object") from None
    async with transaction(ctx.factory) as session:
        note = await record_prechat(session=session, org_id=org.id, customer_id=identity.customer_id, name=name, email=email)
    if note is not None:
        await publish_message(ctx.hub, org_id=org.id, conversation_id=note.conversation_id, customer_id=None, message=message_json(note))
    return web.json_response({"ok": True})


def setup(app: web.Application) -> None:
    app.router.add_get("/chat/theme.css", theme_css)
    app.router.add_post("/chat/prechat", prechat)
