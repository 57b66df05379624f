"""Slack delivery of outbox items: DMs to customers (channel `slack`) and admin pushes (`slack-push`).

Every Slack answer maps to one outbox outcome: 429 -> wait for Retry-After (not counted as an attempt), 5xx and network ->
retry with backoff, a gone user or channel -> unreachable, any other refusal -> failed. The SDK's
own retries are off, so the outbox alone decides (and records) what is retried.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.blocks import escape_mrkdwn, reply_blocks
from bot.channels.slack.threads import reply_thread
from bot.core.delivery.senders import Paced, PermanentFailure, RetryLater, TargetUnreachable
from bot.core.files.attachments import attachment_path
from bot.core.files.models import Attachment
from bot.core.storage.db import SessionFactory

log = logging.getLogger(__name__)
UNREACHABLE = {
    "channel_not_found",
    "user_not_found",
    "account_inactive",
    "is_archived",
    "not_in_channel",
    "user_disabled",
    "cannot_dm_bot",
    "user_not_visible",
}
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"}


def make_client(token: str, api_base: str, timeout: int) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=api_base, timeout=timeout, retry_handlers=[])


def translate(exc: Exception) -> Exception:
    """A Slack client error as the outbox's RetryLater / TargetUnreachable / PermanentFailure."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = str(exc.response.get("error", "") if isinstance(exc.response.data, dict) else "")
        if status == 429 or error == "ratelimited":
            raw = exc.response.headers.get("Retry-After", "1")
            try:
                retry_after = max(float(raw), 0.0)
            except (TypeError, ValueError):
                retry_after = 1.0
            return Paced("slack 429", retry_after)
        if status >= 500 or error in TRANSIENT:
            return RetryLater(f"slack {status} {error}".strip())
        if error in UNREACHABLE:
            return TargetUnreachable(f"slack: {error}")
        return PermanentFailure(f"slack {status}: {error or 'refused'}")
    return RetryLater(f"slack unavailable: {type(exc).__name__}")


class SlackSender:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str = "slack",
        factory: SessionFactory | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.channel = channel
        self.client = client
        self.factory = factory
        self.data_dir = data_dir
        self._dm: dict[str, str] = {}

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        try:
            conversation = await self._conversation(target)
            payload = await self._in_thread(target, payload)
            if payload.get("attachment_id"):
                return await self._upload(conversation, payload)
            return await self._post(conversation, payload)
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise translate(exc) from None

    async def _in_thread(self, target: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A customer writing inside a thread of their DM is answered in that thread."""
        if self.factory is None or payload.get("thread_ts") or not target.startswith(("U", "W")):
            return payload
        async with self.factory() as session:
            thread = await reply_thread(session=session, user_id=target)
        return {**payload, "thread_ts": thread} if thread else payload

    async def _conversation(self, target: str) -> str:
        """A user id (U…/W…) is a DM: conversations.open once, then cached. Channel ids are used as is."""
        if not target.startswith(("U", "W")):
            return target
        if target not in self._dm:
            response = await self.client.conversations_open(users=target)
            self._dm[target] = str(response["channel"]["id"])
        return self._dm[target]

    async def _post(self, conversation: str, payload: dict[str, Any]) -> str | None:
        text = str(payload.get("text", ""))
        kwargs: dict[str, Any] = {}
        if payload.get("thread_ts"):
            kwargs["thread_ts"] = str(payload["thread_ts"])
        response = await self.client.chat_postMessage(
            channel=conversation,
            text=escape_mrkdwn(text)[:3000],  # notification fallback
            blocks=reply_blocks(text, payload.get("buttons") or [], str(payload.get("link", ""))),
            unfurl_links=False,
            **kwargs,
        )
        return str(response.get("ts", "")) or None

    async def _upload(self, conversation: str, payload: dict[str, Any]) -> str | None:
        if self.factory is None or self.data_dir is None:
            raise PermanentFailure("this sender cannot send files")
        async with self.factory() as session:
            attachment = await session.get(Attachment, int(payload["attachment_id"]))
        if attachment is None:
            raise PermanentFailure("the file is gone")
        content = attachment_path(self.data_dir, attachment).read_bytes()
        # files_upload_v2: files.getUploadURLExternal, POST to the upload URL, files.completeUploadExternal.
        response = await self.client.files_upload_v2(
            channel=conversation,
            content=content,
            filename=attachment.filename,
            title=attachment.filename,
            initial_comment=escape_mrkdwn(str(payload.get("text", ""))) or None,
            thread_ts=str(payload["thread_ts"]) if payload.get("thread_ts") else None,
        )
        file = response.get("file") or {}
        return str(file.get("id", "")) or None
