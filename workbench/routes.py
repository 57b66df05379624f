"""The workbench's routes."""

from __future__ import annotations

from aiohttp import web

from bot.context import AppContext
from bot.core.common.ratelimit import SlidingWindow
from bot.core.security.password_pool import PasswordPool
from bot.core.security.throttle import Counters, Limits, LoginThrottle, MemoryCounters, RedisCounters
from bot.paths import STATIC
from workbench import (
    account,
    audit_log,
    broadcasts,
    canned,
    conversation_tools,
    conversations,
    inbox,
    live,
    login,
    organizations,
    platform,
    reports,
    rights,
    search,
    team,
    telegram_admin,
    verification,
    widget_admin,
    work_orders,
)
from workbench.auth import LIMITER, PASSWORDS, TOTP_LIMITER
from workbench.notifications import setup_notifications


def setup(app: web.Application, ctx: AppContext) -> None:
    settings = ctx.settings.workbench
    app[LIMITER] = _login_throttle(ctx)
    app[TOTP_LIMITER] = SlidingWindow(settings.login_attempts, settings.login_window_seconds)
    pool = app[PASSWORDS] = PasswordPool(settings.password_workers, settings.max_pending_logins)

    async def close_pool() -> None:
        pool.close()

    ctx.on_stop.append(close_pool)
    r = app.router
    r.add_get("/workbench", inbox.inbox)
    r.add_get("/workbench/inbox/rows/{conversation_id}", inbox.inbox_row)
    r.add_get("/workbench/login", login.login_form)
    r.add_post("/workbench/login", login.login_submit)
    r.add_post("/workbench/logout", login.logout)
    r.add_get("/workbench/conversations/{conversation_id}", conversations.conversation_page)
    r.add_post("/workbench/conversations/{conversation_id}/reply", conversations.reply)
    r.add_post("/workbench/conversations/{conversation_id}/note", conversations.note)
    r.add_post("/workbench/conversations/{conversation_id}/assign", conversations.assign_view)
    r.add_post("/workbench/conversations/{conversation_id}/status", conversations.status_view)
    r.add_get("/workbench/files/{attachment_id}", conversations.file_view)
    r.add_get("/workbench/ws", live.agent_socket)
    verification.setup(app)
    work_orders.setup(app)
    reports.setup(app)
    rights.setup(app)
    team.setup(app)
    account.setup(app)
    organizations.setup(app)
    platform.setup(app)
    audit_log.setup(app)
    broadcasts.setup(app)
    search.setup(app)
    canned.setup(app)
    conversation_tools.setup(app)
    widget_admin.setup(app)
    setup_notifications(app, ctx)
    r.add_static("/static", STATIC)


def setup_channel_pages(app: web.Application, ctx: AppContext) -> None:
    """Admin pages of the channels that are on (called after the channels have set themselves up)."""
    if "telegram" in ctx.services:
        telegram_admin.setup(app, ctx)
def _login_throttle(ctx: AppContext) -> LoginThrottle:
    """Counters in Redis when configured (every process counts the same attempts), else in this process."""
    settings = ctx.settings.workbench
    counters: Counters = MemoryCounters()
    if ctx.settings.redis.url:
        redis_counters = RedisCounters(ctx.settings.redis.url, ctx.settings.redis.namespace)
        ctx.on_stop.append(redis_counters.close)
        counters = redis_counters
    limits = Limits(pair=settings.login_attempts, account=settings.login_account_attempts,
                    source=settings.login_source_attempts, window_seconds=settings.login_window_seconds)
    return LoginThrottle(counters, limits)
