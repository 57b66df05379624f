"""The agents' channel: each conversation mirrored as a thread; an agent's thread reply goes to the customer.

Mirror posts go through the outbox (channel `slack-mirror`, one key per message, so several
processes hearing the same message send it once). A thread reply from a Slack user who is not an
agent of the organization is not dropped silently: the thread says why it was not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.channels.slack.models import SlackThread
from bot.channels.slack.sender import SlackSender
from bot.context import AppContext
from bot.core.common.errors import DomainError
from bot.core.conversations.live import publish_message
from bot.core.conversations.models import Conversation, Customer
from bot.core.conversations.replies import reply_as_agent
from bot.core.conversations.serialize import message_json
from bot.core.delivery.outbox import enqueue
from bot.core.orgs.models import Agent
from bot.core.storage.db import transaction

log = logging.getLogger(__name__)
AUTHORS = {"customer": "👤 Customer", "bot": "🤖 Bot", "agent": "🧑‍💼 Agent"}


class AgentsChannelMirror:
    def __init__(self, ctx: AppContext, channel: str) -> None:
        self.ctx = ctx
        self.channel = channel
        self._from_slack: set[int] = set()  # replies typed in Slack are not echoed back into the thread
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None

    async def start(self) -> None:
        client = self.ctx.services["slack_client"]
        self.ctx.dispatcher.add_sender(MirrorSender(self.ctx, client, self.channel))
        self._sub = self.ctx.hub.subscribe("messages")
        self._task = asyncio.create_task(self._pump(), name="slack-mirror")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            self._sub.close()

    async def _pump(self) -> None:
        while True:
            event = await self._sub.get()
            try:
                await self._mirror(event)
            except Exception:  # noqa: BLE001 - one bad event must not stop the mirror
                log.exception("slack mirror failed for a message")

    async def _mirror(self, event: dict[str, Any]) -> None:
        message = event.get("message") or {}
        if message.get("direction") == "note" or message.get("id") in self._from_slack or message.get("id") is None:
            return
        author = AUTHORS.get(str(message.get("author")), "")
        text = f"{author}: {message.get('text') or '📎 file'}"
        try:
            async with transaction(self.ctx.factory) as session:
                await enqueue(
                    session=session,
                    channel="slack-mirror",
                    target=self.channel,
                    org_id=int(event["org_id"]),
                    payload={"text": text, "conversation_id": int(event["conversation_id"]), "org_id": int(event["org_id"])},
                    idempotency_key=f"mirror:{message['id']}",
                )
        except IntegrityError:
            return  # another process queued it first
        self.ctx.dispatcher.wake()

    async def on_agent_message(self, team_id: str | None, event: dict[str, Any]) -> None:
        """A message in the agents' channel: a thread reply becomes the agent's reply to the customer."""
        thread_ts = event.get("thread_ts")
        if not thread_ts or thread_ts == event.get("ts"):
            return  # top-level chatter among agents
        async with transaction(self.ctx.factory) as session:
            thread = await session.scalar(
                select(SlackThread).where(SlackThread.channel == self.channel, SlackThread.thread_ts == str(thread_ts))
            )
        if thread is None:
            return
        agent = await self._agent_for(thread.org_id, str(event.get("user", "")))
        if agent is None:
            await self._say(thread_ts, "⚠️ Not sent: your Slack account's email is not an agent of this organization.")
            return
        try:
            async with transaction(self.ctx.factory) as session:
                conversation = await session.get(Conversation, thread.conversation_id)
                assert conversation is not None
                message = await reply_as_agent(
                    session=session, conversation=conversation, agent=agent, text=str(event.get("text", ""))
                )
        except DomainError as exc:
            await self._say(thread_ts, f"⚠️ Not sent: {exc.message}")
            return
        self._from_slack.add(message.id)
        body = dict(message_json(message), agent_name=agent.name)
        await publish_message(
            self.ctx.hub, org_id=thread.org_id, conversation_id=thread.conversation_id, customer_id=None, message=body
        )
        self.ctx.dispatcher.wake()

    async def _agent_for(self, org_id: int, user: str) -> Agent | None:
        try:
            response = await self.ctx.services["slack_client"].users_info(user=user)
        except SlackApiError:
            return None
        email = str(((response.get("user") or {}).get("profile") or {}).get("email") or "").lower()
        if not email:
            return None
        async with self.ctx.factory() as session:
            return await session.scalar(
                select(Agent).where(Agent.org_id == org_id, func.lower(Agent.email) == email, Agent.active.is_(True))
            )

    async def _say(self, thread_ts: str, text: str) -> None:
        try:
            await self.ctx.services["slack_client"].chat_postMessage(channel=self.channel, thread_ts=thread_ts, text=text)
        except SlackApiError:
            log.warning("slack: could not tell the agents' channel why a reply was not sent")


class MirrorSender(SlackSender):
    """Posts into the conversation's thread, opening the thread (and remembering its ts) on first use."""

    def __init__(self, ctx: AppContext, client: Any, channel: str) -> None:
        super().__init__(client, channel="slack-mirror")
        self.ctx = ctx
        self.agents_channel = channel

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        conversation_id = int(payload["conversation_id"])
        async with self.ctx.factory() as session:
            thread = await session.scalar(select(SlackThread).where(SlackThread.conversation_id == conversation_id))
            if thread is None:
                conv = await session.get(Conversation, conversation_id)
                customer = await session.get(Customer, conv.customer_id) if conv is not None else None
        if thread is None:
            name = (customer.name if customer is not None else "") or f"customer #{conversation_id}"
            link = f"{self.ctx.settings.server.public_url.rstrip('/')}/workbench/conversations/{conversation_id}"
            root = await super().send(
                target, {"text": f"Conversation #{conversation_id} with {name} ({conv.channel if conv else ''})", "link": link}
            )
            async with transaction(self.ctx.factory) as session:
                session.add(
                    SlackThread(
                        org_id=int(payload["org_id"]), conversation_id=conversation_id, channel=target, thread_ts=str(root)
                    )
                )
            thread_ts = str(root)
        else:
            thread_ts = thread.thread_ts
        return await super().send(target, {"text": payload.get("text", ""), "thread_ts": thread_ts})
