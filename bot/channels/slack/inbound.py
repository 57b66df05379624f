"""Slack payloads -> normalized inbound events: DMs (message.im), app mentions, file shares, buttons, /support.

Each handler stores the event through the ingest path (committed before Slack gets its ack) and
leaves everything slow to later: replies go through the outbox, names come from users.info after.
Retries are processed once: repeated event ids are skipped in memory, and the message's Slack ts
is its platform_message_id, which the database keeps unique per identity.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from typing import Any
from urllib.parse import urlparse

import aiohttp
from slack_bolt.async_app import AsyncApp
from sqlalchemy import select

from bot.channels.slack.changes import CHANGE_SUBTYPES, on_change, readable_text, track_thread
from bot.config import SlackConfig
from bot.context import AppContext
from bot.core.common.errors import DomainError
from bot.core.conversations.events import EventKind, InboundEvent, IncomingFile
from bot.core.conversations.ingest_batch import IngestResult
from bot.core.conversations.models import ChannelIdentity, Customer
from bot.core.conversations.retries import already_stored, discard_attachment
from bot.core.files.attachments import check_upload, store_attachment
from bot.core.orgs.models import Organization
from bot.core.storage.db import transaction
from bot.flows.texts import render_text

log = logging.getLogger(__name__)
CHANNEL = "slack"
SEEN_LIMIT = 10_000
IGNORED_SUBTYPES = {"bot_message", "channel_join", "channel_leave", "thread_broadcast"}
COMMAND_WORDS = {"start", "help", "language"}


class SlackInbound:
    def __init__(self, ctx: AppContext, config: SlackConfig, token: str) -> None:
        self.ctx = ctx
        self.config = config
        self._token = token
        self._orgs: dict[str, int] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._enriched: set[str] = set()
        self.names: dict[str, str] = {}  # Slack user id -> display name, for mentions
        self.on_agents_channel: Any = None  # set by the mirror: (team_id, event) -> awaitable

    def register(self, app: AsyncApp) -> None:
        app.event("message")(self.on_message)
        app.event("app_mention")(self.on_mention)
        app.action(re.compile(r"^incs_btn_\d+$"))(self.on_button)
        app.action("incs_open")(self.on_link)
        app.command("/support")(self.on_support)
        app.event(re.compile(".*"))(self.on_unknown)  # last: anything else is acked and logged

    # -- handlers (Bolt injects arguments by name) --

    async def on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        if event.get("subtype") in CHANGE_SUBTYPES:
            if event.get("channel_type") == "im":
                await on_change(self, context.team_id, event)
            return
        if event.get("subtype") in IGNORED_SUBTYPES or event.get("bot_id"):
            return
        if self.config.agents_channel and event.get("channel") == self.config.agents_channel:
            if self.on_agents_channel is not None:
                await self.on_agents_channel(context.team_id, event)
            return
        if event.get("channel_type") != "im":
            return  # channel chatter reaches us as app_mention only
        await self._customer_message(body, event, context)

    async def on_mention(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        if self.config.agents_channel and event.get("channel") == self.config.agents_channel:
            return
        await self._customer_message(body, event, context)

    async def on_unknown(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        log.info("slack: ignoring event type %s (event %s)", event.get("type"), body.get("event_id"))

    async def on_link(self, ack: Any) -> None:
        await ack()

    async def on_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any], context: Any) -> None:
        user = (body.get("user") or {}).get("id", "")
        org_id = await self._org(context.team_id)
        if org_id is not None and user:
            label = ((action.get("text") or {}).get("text")) or ""
            await self._submit(
                InboundEvent(
                    org_id=org_id,
                    channel=CHANNEL,
                    external_id=user,
                    kind="button",
                    text=label,
                    payload=str(action.get("value", "")),
                    platform_message_id=f"action:{action.get('action_ts', '')}",
                ),
                user,
            )
        await ack()

    async def on_support(self, ack: Any, command: dict[str, Any], context: Any) -> None:
        user = str(command.get("user_id", ""))
        org_id = await self._org(context.team_id)
        if org_id is None or not user:  # no customer to ask: the service's default language
            await ack(text=render_text("slack_not_connected", self.ctx.settings.locale))
            return
        words = str(command.get("text", "")).strip()
        if not words or words.lower() in COMMAND_WORDS:
            event = InboundEvent(
                org_id=org_id,
                channel=CHANNEL,
                external_id=user,
                kind="command",
                text=(words or "start").lower(),
                platform_message_id=f"cmd:{command.get('trigger_id', '')}",
            )
        else:
            event = InboundEvent(
                org_id=org_id,
                channel=CHANNEL,
                external_id=user,
                kind="text",
                text=words,
                platform_message_id=f"cmd:{command.get('trigger_id', '')}",
            )
        result = await self._submit_result(event, user)
        locale = (result.locale if result is not None else None) or self.ctx.settings.locale  # the customer's language
        await ack(text=render_text("slack_command_sent" if result is not None else "slack_command_failed", locale))

    # -- shared steps --

    async def _customer_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        event_id = str(body.get("event_id", ""))
        if event_id and event_id in self._seen:
            log.info("slack: event %s already processed; retry skipped", event_id)
            return
        user = str(event.get("user", ""))
        org_id = await self._org(context.team_id)
        if org_id is None or not user:
            return
        ts = str(event.get("ts", ""))
        text = await readable_text(self, str(event.get("text", "")))
        files = event.get("files") or []
        await track_thread(self, org_id, user, event)
        ok = True
        if text.strip() or not files:
            ok = await self._submit(
                InboundEvent(
                    org_id=org_id, channel=CHANNEL, external_id=user, kind="text", text=text, platform_message_id=ts or None
                ),
                user,
            )
        for index, file in enumerate(files):
            ok = await self._file(org_id, user, ts, index, file) and ok
        if ok and event_id:
            self._remember(event_id)

    def _remember(self, event_id: str) -> None:
        self._seen[event_id] = None
        while len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)

    async def _org(self, team_id: str | None) -> int | None:
        team_id = team_id or ""
        slug = self.config.team_orgs.get(team_id) or self.config.default_org
        if not slug:
            log.warning("slack: event from unmapped team %s refused; add it to channels.slack.team_orgs", team_id or "?")
            return None
        if slug not in self._orgs:
            async with self.ctx.factory() as session:
                org_id = await session.scalar(select(Organization.id).where(Organization.slug == slug))
            if org_id is None:
                log.warning("slack: team %s maps to unknown organization %r", team_id, slug)
                return None
            self._orgs[slug] = int(org_id)
        return self._orgs[slug]

    async def _submit(self, event: InboundEvent, user: str) -> bool:
        return await self._submit_result(event, user) is not None

    async def _submit_result(self, event: InboundEvent, user: str) -> IngestResult | None:
        """The stored event's result; None when it was refused."""
        try:
            result = await self.ctx.ingestor.submit(event)
        except DomainError as exc:
            log.info("slack: %s event from a user refused: %s", event.kind, exc.message)
            await self._discard(event)
            return None
        if result.duplicate:  # stored meanwhile (another process took the same retry): no orphan file
            await self._discard(event)
        if user not in self._enriched:
            self._enriched.add(user)
            self._later(self._enrich(result.identity_id, user))
        return result

    async def _discard(self, event: InboundEvent) -> None:
        if event.file is not None:
            async with transaction(self.ctx.factory) as session:
                await discard_attachment(session=session, data_dir=self.ctx.settings.data_dir, org_id=event.org_id,
                                         attachment_id=event.file.attachment_id)

    async def _file(self, org_id: int, user: str, ts: str, index: int, file: dict[str, Any]) -> bool:
        async with self.ctx.factory() as session:  # a retry after a restart: stored already, nothing to download
            if await already_stored(session=session, org_id=org_id, channel=CHANNEL, external_id=user,
                                    platform_message_id=f"{ts}:f{index}"):
                return True
        name = str(file.get("name") or "file")
        mime = str(file.get("mimetype") or "application/octet-stream").lower()
        limits = self.ctx.settings.webchat
        try:
            content = await self._download(str(file.get("url_private_download") or file.get("url_private") or ""))
            check_upload(
                size=len(content),
                mime_type=mime,
                max_bytes=min(limits.max_upload_bytes, self.config.max_download_bytes),
                allowed=limits.allowed_mime_types,
            )
            async with transaction(self.ctx.factory) as session:
                stored = await store_attachment(
                    session=session,
                    data_dir=self.ctx.settings.data_dir,
                    org_id=org_id,
                    customer_id=None,
                    filename=name,
                    mime_type=mime,
                    content=content,
                )
        except (DomainError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("slack: file %s not taken: %s", file.get("id"), getattr(exc, "message", type(exc).__name__))
            return await self._submit(
                InboundEvent(
                    org_id=org_id,
                    channel=CHANNEL,
                    external_id=user,
                    kind="text",
                    text=f"📎 {name} (not accepted: {getattr(exc, 'message', 'download failed')})",
                    platform_message_id=f"{ts}:f{index}",
                ),
                user,
            )
        kind: EventKind = "photo" if mime.startswith("image/") else "file"
        incoming = IncomingFile(attachment_id=stored.id, filename=stored.filename, mime_type=mime, size=stored.size)
        return await self._submit(
            InboundEvent(
                org_id=org_id, channel=CHANNEL, external_id=user, kind=kind, file=incoming, platform_message_id=f"{ts}:f{index}"
            ),
            user,
        )

    async def _download(self, url: str) -> bytes:
        # The bot token goes only to Slack's own hosts (or the configured API server in tests).
        host = urlparse(url).hostname or ""
        allowed = {urlparse(self.config.api_base).hostname or ""}
        if not (host == "slack.com" or host.endswith(".slack.com") or host in allowed):
            raise ValueError("file URL outside Slack")
        limit = self.config.max_download_bytes
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_seconds)
        headers = {"Authorization": f"Bearer {self._token}"}
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url, headers=headers) as resp:
            if resp.status != 200:
                raise ValueError(f"download status {resp.status}")
            content = await resp.content.read(limit + 1)
        if len(content) > limit:
            raise ValueError("file too large")
        return content

    def _later(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _enrich(self, identity_id: int, user: str) -> None:
        """After the ack: the user's name and email from users.info, if the scopes allow."""
        client = self.ctx.services.get("slack_client")
        if client is None:
            return
        try:
            response = await client.users_info(user=user)
        except Exception as exc:  # noqa: BLE001 - a missing scope or outage only costs the name
            log.info("slack: users.info unavailable (%s)", type(exc).__name__)
            return
        profile = (response.get("user") or {}).get("profile") or {}
        name = str(profile.get("real_name") or profile.get("display_name") or (response.get("user") or {}).get("name") or "")
        email = str(profile.get("email") or "")
        async with transaction(self.ctx.factory) as session:
            identity = await session.get(ChannelIdentity, identity_id)
            customer = await session.get(Customer, identity.customer_id) if identity is not None else None
            if identity is None or customer is None:
                return
            if name and not identity.display_name:
                identity.display_name = name[:200]
            if name and not customer.name:
                customer.name = name[:200]
            if email and not customer.email:
                customer.email = email[:320]
