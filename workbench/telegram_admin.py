"""Workbench Telegram page: the bot's health (admins) and linking a chat for notifications (every agent)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.channels.telegram.keys import TG
from bot.channels.telegram.store import create_link_code, linked_chats, outbox_backlog, unlink_chat
from bot.context import AppContext
from bot.core.common.errors import InvalidInput
from bot.core.orgs.permissions import Permission, may
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_session, agent_transaction
from workbench.render import render

PROBE_TIMEOUT = 5


def _stamp(value: float | None) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


async def bot_health(request: web.Request) -> dict[str, Any]:
    """Live answers from the Bot API plus what this process saw; a broken webhook shows here, not silently."""
    from aiogram.exceptions import TelegramAPIError  # loaded only when Telegram is on

    channel = request.app[TG]
    health: dict[str, Any] = {"mode": channel.config.mode, "state": channel.state}
    try:
        me = await asyncio.wait_for(channel.bot.get_me(), PROBE_TIMEOUT)
        health["me"] = f"@{me.username} (id {me.id})"
    except (TelegramAPIError, TimeoutError) as exc:
        health["me_error"] = str(exc) or type(exc).__name__
    try:
        info = await asyncio.wait_for(channel.bot.get_webhook_info(), PROBE_TIMEOUT)
        health["webhook"] = {
            "url": info.url or "(none — polling)",
            "pending": info.pending_update_count,
            "last_error": info.last_error_message or "",
            "last_error_at": _stamp(info.last_error_date.timestamp()) if info.last_error_date else "",
        }
    except (TelegramAPIError, TimeoutError) as exc:
        health["webhook_error"] = str(exc) or type(exc).__name__
    async with channel.ctx.factory() as session:
        health["backlog"] = await outbox_backlog(session=session)
    health["last_update"] = _stamp(channel.state.last_update_at)
    health["last_sent"] = _stamp(channel.state.last_sent_at)
    health["last_error_at"] = _stamp(channel.state.last_error_at)
    health["silent_minutes"] = int((time.time() - (channel.state.last_update_at or channel.state.started_at)) // 60)
    return health


async def _page(request: web.Request, code: str = "") -> web.Response:
    agent = request[AGENT]
    health = await bot_health(request) if may(agent.role, Permission.SECURITY_VIEW) else None
    async with agent_session(request) as session:
        chats = await linked_chats(session=session, agent_id=agent.id)
    return render(
        request,
        "workbench/telegram_admin.html",
        health=health,
        chats=chats,
        code=code,
        minutes=request.app[TG].config.link_code_minutes,
    )


@agent_page(permission=Permission.PUSH_TARGETS)
async def telegram_page(request: web.Request) -> web.Response:
    return await _page(request)


@agent_page(permission=Permission.PUSH_TARGETS)
async def link_code(request: web.Request) -> web.Response:
    """A one-time code, shown once to this agent; only its hash is stored."""
    ctx = request.app[CTX]
    async with agent_transaction(request) as session:
        code = await create_link_code(
            session=session,
            agent=request[AGENT],
            secret=ctx.settings.secret_key,
            minutes=ctx.settings.channels.telegram.link_code_minutes,
        )
    return await _page(request, code=code)


@agent_page(permission=Permission.PUSH_TARGETS)
async def unlink(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        target_id = int(str(form.get("target_id", "")))
    except ValueError:
        raise InvalidInput("target_id: not a number") from None
    async with agent_transaction(request) as session:
        await unlink_chat(session=session, agent_id=request[AGENT].id, target_id=target_id)
    raise web.HTTPSeeOther("/workbench/telegram")


def setup(app: web.Application, _ctx: AppContext) -> None:
    app.router.add_get("/workbench/telegram", telegram_page)
    app.router.add_post("/workbench/telegram/link", link_code)
    app.router.add_post("/workbench/telegram/unlink", unlink)
