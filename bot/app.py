"""Wiring: configuration, engine, one aiohttp application with web chat, workbench and channel routes."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import bot.all_models  # noqa: F401 - every table known to Base.metadata (merge, export, deletion walk it)
from bot.channels.email.push import EmailPushSender
from bot.channels.email.sender import EmailSender
from bot.channels.telegram.push import TelegramPushSender
from bot.channels.webchat.routes import setup as setup_webchat
from bot.channels.webchat.sender import WebchatSender
from bot.channels.webhook.sender import WebhookSender
from bot.config import Settings
from bot.context import AppContext
from bot.core.common import metrics
from bot.core.common.errors import DomainError
from bot.core.common.scheduler import Scheduler
from bot.core.common.sweep_lock import RedisLock, make_sweep_lock
from bot.core.conversations.ingest import Ingestor
from bot.core.conversations.live import make_hub
from bot.core.conversations.orphans import install as install_orphan_sweep
from bot.core.delivery.dispatcher import Dispatcher
from bot.core.delivery.outbox import backlog
from bot.core.delivery.outbox import gauges as outbox_gauges
from bot.core.notices.sweeps import install as install_broadcasts
from bot.core.notifications.delivery_age import too_old_notifier
from bot.core.notifications.sweeps import install as install_notifications
from bot.core.orgs.audit import checkpoint_all
from bot.core.retention.sweeps import install as install_retention
from bot.core.rights.sweeps import install as install_rights
from bot.core.storage.db import SessionFactory, checkpoint_loop, create_engine, is_sqlite, ping, session_factory, transaction
from bot.core.storage.files import private_dir
from bot.core.storage.planner_stats import EVERY_SECONDS as PLANNER_STATS_SECONDS
from bot.core.storage.planner_stats import PlannerStats
from bot.core.triage.sweep import install as install_snooze_sweep
from bot.core.work_orders.sweeps import install as install_sla
from bot.flows.default import default_runner
from bot.i18n import error_text, gettext
from bot.pages import customer_error_page, request_locale
from bot.web import CTX, SOCKETS, OpenSockets, shut_sockets, wants_json
from workbench.routes import setup as setup_workbench
from workbench.routes import setup_channel_pages

log = logging.getLogger(__name__)
# Adapters that switch themselves on when their credentials are configured.
OPTIONAL_CHANNELS = ("bot.channels.telegram", "bot.channels.slack", "bot.channels.otp")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_context(settings: Settings) -> AppContext:
    private_dir(settings.data_dir)
    db = settings.database
    engine = create_engine(
        settings.database_url, echo=db.echo, pool_size=db.pool_size, synchronous_commit=db.synchronous_commit,
        pool_pre_ping=db.pool_pre_ping, statement_cache_size=db.statement_cache_size, sqlite_synchronous=db.sqlite_synchronous,
    )
    factory = session_factory(engine)
    hub = make_hub(settings.redis.url, settings.redis.namespace)
    services: dict[str, object] = {}
    ingestor = Ingestor(factory=factory, settings=settings, hub=hub, services=services, flows=default_runner())
    dispatcher = Dispatcher(factory=factory, senders={}, hub=hub, config=settings.outbox, on_too_old=too_old_notifier(settings))
    dispatcher.add_sender(WebchatSender(hub))
    dispatcher.add_sender(EmailSender(settings.smtp))
    dispatcher.add_sender(WebhookSender())
    ingestor.on_replies.append(dispatcher.wake)
    ctx = AppContext(
        settings=settings, engine=engine, factory=factory, hub=hub, ingestor=ingestor, dispatcher=dispatcher, services=services
    )
    # Shared scheduler for idempotent sweeps (other features add jobs to it), then admin notifications.
    lock = make_sweep_lock(engine=engine, database_url=settings.database_url, redis_url=settings.redis.url,
                           namespace=settings.redis.namespace)
    scheduler = services["scheduler"] = Scheduler(lock)
    ctx.on_start.append(scheduler.start)
    ctx.on_stop.append(scheduler.stop)
    # Admin pushes go out through the channels' own senders; the core only queues them.
    dispatcher.add_sender(EmailPushSender(EmailSender(settings.smtp)))
    if settings.channels.telegram.token:
        dispatcher.add_sender(TelegramPushSender(settings.channels.telegram.api_base, settings.channels.telegram.token))
    if isinstance(lock, RedisLock):
        ctx.on_stop.append(lock.close)
    install_notifications(ctx)
    install_sla(ctx)
    scheduler.daily("audit.checkpoint", "03:30", lambda: _checkpoint_audit(factory))
    install_rights(ctx)
    install_broadcasts(ctx)
    install_snooze_sweep(ctx)
    install_orphan_sweep(ctx)
    install_retention(ctx)
    if is_sqlite(settings.database_url):
        _background(ctx, lambda: checkpoint_loop(engine), "sqlite-checkpoint")
    else:
        scheduler.every("storage.planner_stats", PLANNER_STATS_SECONDS, PlannerStats(engine).run)
    return ctx


async def _checkpoint_audit(factory: SessionFactory) -> int:
    async with transaction(factory) as session:
        return await checkpoint_all(session=session)


def _background(ctx: AppContext, start: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
    """A task that lives as long as the app: started and cancelled with it."""
    tasks: list[asyncio.Task[None]] = []

    async def on_start() -> None:
        tasks.append(asyncio.create_task(start(), name=name))

    async def on_stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    ctx.on_start.append(on_start)
    ctx.on_stop.append(on_stop)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors and unknown routes, mapped in one place: JSON for JSON clients, else the audience's page."""
    try:
        return await handler(request)
    except DomainError as exc:
        return _error_response(request, exc.status, exc.code, error_text(exc, request_locale(request)))
    except HttpProcessingError as exc:
        # A body aiohttp cannot parse (multipart without line breaks, NUL in a part header, a line over
        # the limit): the client's fault, so a 4xx and one log line, never a 500 with a traceback.
        status = exc.code if 400 <= exc.code < 500 else 400
        log.warning("refused a malformed %s %s body: %s", request.method, request.path, type(exc).__name__)
        message = gettext(request_locale(request), "the request body could not be read")
        return _error_response(request, status, "malformed_body", message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
        message = "this page does not exist" if exc.status == 404 else "this address does not accept that request"
        code = "not_found" if exc.status == 404 else "method_not_allowed"
        return _error_response(request, exc.status, code, gettext(request_locale(request), message))



def _error_response(request: web.Request, status: int, code: str, message: str) -> web.StreamResponse:
    if wants_json(request):
        return web.json_response({"error": code, "message": message}, status=status)
    if request.path.startswith("/workbench"):
        from workbench.render import render_error

        return render_error(request, status, message)
    return customer_error_page(request, status, message)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    ancestors = "'none'"
    embed = request.app[CTX].settings.webchat.embed_origins
    if request.path == "/chat" and embed:  # the widget frames the chat page on the sites allowed to embed it
        ancestors = " ".join(embed)
    else:
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        f"frame-ancestors {ancestors}",
    )
    return response


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    ok = await ping(ctx.engine)
    return web.json_response({"status": "ok" if ok else "database unavailable", "database": ok}, status=200 if ok else 503)


async def metrics_view(request: web.Request) -> web.Response:
    async with request.app[CTX].factory() as session:  # measured when scraped, not on the delivery path
        metrics.OUTBOX_BACKLOG.set(await backlog(session=session))
        measured = await outbox_gauges(session=session)
    metrics.set_outbox(measured.by_state, measured.oldest_pending_seconds)
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def index(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/chat")


def create_app(settings: Settings, ctx: AppContext | None = None) -> web.Application:
    ctx = ctx or build_context(settings)
    app = web.Application(
        client_max_size=settings.webchat.max_upload_bytes + 64 * 1024,
        middlewares=[security_headers, error_middleware],
    )
    app[CTX] = ctx
    app[SOCKETS] = OpenSockets()
    app.on_shutdown.append(shut_sockets)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    setup_webchat(app, ctx)
    setup_workbench(app, ctx)
    for module_name in OPTIONAL_CHANNELS:
        module = importlib.import_module(module_name)
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app, ctx)
    setup_channel_pages(app, ctx)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    ctx = app[CTX]
    await ctx.hub.start()
    await ctx.ingestor.start()
    await ctx.dispatcher.start()
    for hook in ctx.on_start:
        await hook()


async def _stop(app: web.Application) -> None:
    ctx = app[CTX]
    for hook in reversed(ctx.on_stop):
        try:
            await hook()
        except Exception:  # noqa: BLE001 - keep shutting down the rest
            log.exception("stop hook failed")
    await ctx.dispatcher.stop()
    await ctx.ingestor.stop()
    await ctx.hub.stop()
    await ctx.engine.dispose()
