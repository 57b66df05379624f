"""Slack DM events beyond new messages: edits, deletions, threads, and mentions made readable.

Guarantees: a `message_changed` in a customer's DM updates that customer's stored message and marks it
edited; a `message_deleted` marks it (and the files it carried) deleted; both are pushed live to the
agents' open thread. A DM message inside a thread makes replies go to that thread; a top-level one
sends them back to the top level. Mentions become "@Name" (users.info, cached; the id if unavailable).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from bot.channels.slack.markup import mentioned_users, readable
from bot.channels.slack.threads import remember_thread, reply_thread
from bot.core.conversations.live import publish_edit
from bot.core.conversations.models import Conversation, Message
from bot.core.conversations.platform_changes import apply_platform_edit, mark_platform_deleted
from bot.core.conversations.serialize import message_json
from bot.core.storage.db import transaction

if TYPE_CHECKING:
    from bot.channels.slack.inbound import SlackInbound

log = logging.getLogger(__name__)
CHANNEL = "slack"
CHANGE_SUBTYPES = {"message_changed", "message_deleted"}
MAX_FILES = 20
NAME_TIMEOUT = 1.0


async def on_change(inbound: SlackInbound, team_id: str | None, event: dict[str, Any]) -> None:
    org_id = await inbound._org(team_id)
    if org_id is None:
        return
    if event.get("subtype") == "message_changed":
        inner = event.get("message") or {}
        user, ts = str(inner.get("user") or ""), str(inner.get("ts") or "")
        if not user or not ts or inner.get("bot_id"):
            return
        text = await readable_text(inbound, str(inner.get("text") or ""))
        async with transaction(inbound.ctx.factory) as session:
            edited = await apply_platform_edit(session=session, org_id=org_id, channel=CHANNEL, external_id=user,
                                               platform_message_id=ts, text=text)
            changed = [edited] if edited is not None else []
            customers = await _customers(session, changed)
    else:
        previous = event.get("previous_message") or {}
        user, ts = str(previous.get("user") or ""), str(event.get("deleted_ts") or previous.get("ts") or "")
        if not user or not ts:
            return
        ids = [ts, *(f"{ts}:f{i}" for i in range(MAX_FILES))]
        async with transaction(inbound.ctx.factory) as session:
            changed = await mark_platform_deleted(session=session, org_id=org_id, channel=CHANNEL, external_id=user,
                                                  platform_message_ids=ids)
            customers = await _customers(session, changed)
    for message in changed:
        await publish_edit(inbound.ctx.hub, conversation_id=message.conversation_id,
                           customer_id=customers.get(message.conversation_id), message=message_json(message))
    log.info("slack: %s applied to %d stored message(s)", event.get("subtype"), len(changed))


async def _customers(session: Any, messages: list[Message]) -> dict[int, int]:
    out = {}
    for message in messages:
        conversation = await session.get(Conversation, message.conversation_id)
        if conversation is not None:
            out[conversation.id] = conversation.customer_id
    return out


async def track_thread(inbound: SlackInbound, org_id: int, user: str, event: dict[str, Any]) -> None:
    """Only DMs: a reply inside a thread (thread_ts differs from ts) sets it; a top-level message clears it."""
    if event.get("channel_type") != "im":
        return
    thread_ts = event.get("thread_ts")
    thread = str(thread_ts) if thread_ts and thread_ts != event.get("ts") else None
    if thread is None:
        async with inbound.ctx.factory() as session:  # the common case: read only, no write turn taken
            if await reply_thread(session=session, user_id=user) is None:
                return
    async with transaction(inbound.ctx.factory) as session:
        await remember_thread(session=session, org_id=org_id, user_id=user, thread_ts=thread)


async def readable_text(inbound: SlackInbound, text: str) -> str:
    names: dict[str, str] = inbound.names
    missing = [user for user in mentioned_users(text) if user not in names]
    if missing:
        await asyncio.gather(*(_lookup(inbound, user) for user in missing[:10]))
    return readable(text, names)


async def _lookup(inbound: SlackInbound, user: str) -> None:
    client = inbound.ctx.services.get("slack_client")
    if client is None:
        return
    try:
        response: Any = await asyncio.wait_for(client.users_info(user=user), NAME_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - a missing scope or a slow API only costs the name
        log.info("slack: users.info for a mention unavailable (%s)", type(exc).__name__)
        return
    info = response.get("user") or {}
    profile = info.get("profile") or {}
    name = str(profile.get("display_name") or profile.get("real_name") or info.get("name") or "")
    if name:
        inbound.names[user] = name[:80]
