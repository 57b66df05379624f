"""The running Telegram channel: bot, router, limiter, health, and the two ways updates arrive.

Polling is our own loop over getUpdates rather than aiogram's start_polling: the offset (Telegram's
acknowledgement) advances only after every update of the batch is committed, so a crash loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import Response
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from pydantic import ValidationError

from bot.channels.telegram.chat_orgs import ChatOrgs
from bot.channels.telegram.commands import publish_commands
from bot.channels.telegram.limiter import SendLimiter
from bot.channels.telegram.sender import Delivery
from bot.channels.telegram.session import JsonSession
from bot.channels.telegram.store import purge_journal
from bot.context import AppContext
from bot.core.common import metrics
from bot.core.common.ratelimit import SlidingWindow
from bot.core.storage.db import transaction

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
SEEN_LIMIT = 20_000
MAX_FAILURES = 3


class TelegramPollError(Exception):
    """getUpdates answered with an error."""


class MalformedUpdate(Exception):
    """Not a Telegram update we can read; logged and acknowledged, never retried."""


@dataclass
class HealthState:
    started_at: float = field(default_factory=time.time)
    last_update_at: float | None = None
    updates: int = 0
    duplicates: int = 0
    invalid: int = 0
    last_invalid: str = ""
    last_sent_at: float | None = None
    last_error: str = ""
    last_error_at: float | None = None
    polling_error: str = ""

    def received(self) -> None:
        self.updates += 1
        self.last_update_at = time.time()

    def refused(self, reason: str) -> None:
        self.invalid += 1
        self.last_invalid = reason[:200]
        metrics.INVALID_UPDATES.labels("telegram").inc()

    def sent(self, _chat: str) -> None:
        self.last_sent_at = time.time()

    def send_error(self, message: str) -> None:
        self.last_error, self.last_error_at = message[:300], time.time()


class TelegramChannel:
    def __init__(self, ctx: AppContext) -> None:
        from bot.channels.telegram.inbound import build_router

        self.ctx = ctx
        self.config = ctx.settings.channels.telegram
        api = TelegramAPIServer.from_base(self.config.api_base)
        self.session = JsonSession(api=api, timeout=self.config.request_timeout_seconds)
        self.session.middleware(_keep_response_types)
        self.bot = Bot(self.config.token, session=self.session)
        # Updates go straight to the router (`process`), not through an aiogram Dispatcher: its update-level chain
        # (outer middlewares, user context, FSM context, a second propagation, an INFO log call) was 40 of a first
        # contact's ~600 µs of event-loop time, for nothing this bot uses (no handler takes an FSM state, a user
        # context or the Dispatcher's workflow data; the handlers close over the channel).
        self.router = build_router(self)
        self.limiter = SendLimiter(self.config)
        self.delivery = Delivery(self)
        self.state = HealthState()
        self.flood = SlidingWindow(self.config.flood_limit, self.config.flood_window_seconds)
        self.flooded: set[str] = set()
        self.agents_org_id: int | None = None
        self.chat_orgs = ChatOrgs(self)  # cache of telegram_chats; written through on /start
        self.inflight: set[asyncio.Future[Any]] = set()
        self.draining = False
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._failures: dict[int, int] = defaultdict(int)
        self._tasks: list[asyncio.Task[None]] = []

    # ---- updates, whichever way they arrive ----
    async def process(self, raw: dict[str, Any]) -> None:
        """Handle one raw update once. Raises MalformedUpdate for junk, anything else for a retry."""
        update_id = raw.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            self.state.refused("no integer update_id")
            raise MalformedUpdate("no integer update_id")
        if update_id in self._seen:
            self.state.duplicates += 1
            log.info("telegram update %d already processed; skipped", update_id)
            return
        try:
            update = Update.model_validate(raw, context={"bot": self.bot})
        except ValidationError as exc:
            reason = f"update {update_id} does not validate: {exc.error_count()} errors"
            self.state.refused(reason)
            raise MalformedUpdate(reason) from None
        try:
            kind = update.event_type
        except UpdateTypeLookupError:
            self.state.refused(f"update {update_id} has no known event type")
            raise MalformedUpdate(f"update {update_id} has no known event type") from None
        if not _ids_fit(update):
            self.state.refused(f"update {update_id} has a chat or user id beyond Telegram's range")
            raise MalformedUpdate(f"update {update_id} has a chat or user id beyond Telegram's range")
        self.state.received()
        await self.router.propagate_event(kind, update.event, bot=self.bot, event_update=update)
        self._seen[update_id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)

    async def process_batch(self, updates: list[dict[str, Any]]) -> None:
        """Updates of one chat in order, different chats concurrently."""
        by_chat: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for raw in updates:
            by_chat[_chat_key(raw)].append(raw)

        async def run(items: list[dict[str, Any]]) -> None:
            for raw in items:
                await self._process_logged(raw)

        await asyncio.gather(*(run(items) for items in by_chat.values()))

    async def _process_logged(self, raw: dict[str, Any]) -> None:
        update_id = raw.get("update_id", -1)
        try:
            await self.process(raw)
        except MalformedUpdate as exc:
            log.warning("telegram: ignored malformed update: %s", exc)
        except Exception:
            self._failures[update_id] += 1
            if self._failures[update_id] >= MAX_FAILURES:
                log.exception("telegram update %s failed %d times; giving up on it", update_id, MAX_FAILURES)
                self._failures.pop(update_id, None)
                return
            raise

    # ---- polling ----
    async def _poll(self) -> None:
        offset: int | None = None
        delay = 1.0
        while True:
            try:
                raws = await self._get_updates(offset)
                if raws:
                    await self.process_batch(raws)
                    offset = max(int(u["update_id"]) for u in raws) + 1
                self.state.polling_error = ""
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the poller outlives any error; it backs off and retries
                self.state.polling_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("telegram polling failed (%s); retrying in %.0fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _get_updates(self, offset: int | None) -> list[dict[str, Any]]:
        """Raw getUpdates: one malformed update must not make the whole batch undecodable."""
        http = await self.session.create_session()
        body: dict[str, Any] = {"timeout": self.config.poll_timeout_seconds, "allowed_updates": ALLOWED_UPDATES}
        if offset is not None:
            body["offset"] = offset
        url = self.session.api.api_url(token=self.bot.token, method="getUpdates")
        wait = self.config.poll_timeout_seconds + self.config.request_timeout_seconds
        async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=wait)) as resp:
            data = await resp.json(content_type=None)
        if not isinstance(data, dict) or not data.get("ok"):
            description = data.get("description", "") if isinstance(data, dict) else ""
            raise TelegramPollError(f"getUpdates {resp.status}: {description}")
        result = data.get("result")
        return (
            [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)] if isinstance(result, list) else []
        )

    async def _set_webhook(self) -> None:
        url = self.config.webhook_url or self.ctx.settings.server.public_url.rstrip("/") + "/telegram/webhook"
        delay = 1.0
        while True:
            try:
                await self.bot.set_webhook(url=url, secret_token=self.config.webhook_secret, allowed_updates=ALLOWED_UPDATES)
                log.info("telegram webhook set to %s", url)
                return
            except TelegramAPIError as exc:
                self.state.send_error(f"setWebhook: {exc.message}")
                log.error("telegram setWebhook failed (%s); retrying in %.0fs", exc.message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    # ---- lifecycle ----
    async def purge_journal(self) -> None:
        """Scheduled (and once at start): send-journal entries older than `retention.telegram_journal_days` go (the
        nightly retention run removes them too and counts them; this keeps the journal bounded between runs)."""
        days = self.ctx.settings.retention.telegram_journal_days
        if days is None:
            return
        async with transaction(self.ctx.factory) as session:
            await purge_journal(session=session, days=days)

    async def start(self) -> None:
        Update.model_rebuild()  # built on first use (lean.py): the first update should not wait for it
        await self.chat_orgs.load()
        self._spawn(self.chat_orgs.follow(), "telegram-chat-orgs")
        await self.purge_journal()
        if self.config.mode == "webhook":
            self._spawn(self._set_webhook(), "telegram-set-webhook")
        else:
            self._spawn(self._start_polling(), "telegram-polling")
        self._spawn(publish_commands(self), "telegram-commands")
        if self.config.agents_chat_id is not None:
            from bot.channels.telegram.topics import mirror_loop

            self._spawn(mirror_loop(self), "telegram-topic-mirror")

    async def _start_polling(self) -> None:
        with contextlib.suppress(TelegramAPIError):  # getUpdates refuses to run while a webhook is set
            await self.bot.delete_webhook(drop_pending_updates=False)
        await self._poll()

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def stop(self) -> None:
        self.draining = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.inflight:  # let sends already on the wire finish and be journaled
            await asyncio.wait(list(self.inflight), timeout=10)
        await self.session.close()


# aiogram parses each API answer as `Response[<the method's result type>]`; pydantic keeps parametrized models only
# weakly, so without a reference here each collection would make the next call build the model (and its
# validator) again: a few milliseconds a send.
_RESPONSE_TYPES: dict[Any, Any] = {}


async def _keep_response_types(make_request: Any, bot: Bot, method: Any) -> Any:
    returning = getattr(method, "__returning__", None)
    try:
        if returning is not None and returning not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
    except TypeError:  # a result type that cannot be a key: aiogram builds it as before
        pass
    return await make_request(bot, method)


ID_LIMIT = 2**53  # Telegram's chat and user ids have at most 52 significant bits (Bot API docs, Chat.id)


def _ids_fit(update: Update) -> bool:
    """No real update has a larger id; a forged one would fail the database's 64-bit columns (a 5xx, retried)."""
    for event in (update.message, update.edited_message, update.callback_query):
        if event is None:
            continue
        user = event.from_user
        if user is not None and not -ID_LIMIT < user.id < ID_LIMIT:
            return False
        chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
        if chat is not None and not -ID_LIMIT < chat.id < ID_LIMIT:
            return False
    return True


def _chat_key(raw: dict[str, Any]) -> Any:
    for kind in ("message", "edited_message"):
        if isinstance(raw.get(kind), dict):
            return (raw[kind].get("chat") or {}).get("id")
    callback = raw.get("callback_query")
    if isinstance(callback, dict):
        return (callback.get("from") or {}).get("id")
    return ("update", raw.get("update_id"))
