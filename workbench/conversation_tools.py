"""Beside a conversation: correct the customer's contact details (audited), labels, priority, snooze, and the
agent's typing indicator (web chat through the live hub, Telegram through sendChatAction)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from aiohttp import web

from bot.channels.telegram.keys import TG
from bot.core.common.errors import InvalidInput
from bot.core.conversations.threads import get_conversation
from bot.core.customer_context import conversation_identity, update_contact
from bot.core.orgs.audit import record
from bot.core.orgs.permissions import member_org_id
from bot.core.triage import add_label, remove_label, set_priority, snooze
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_session, agent_transaction
from workbench.params import path_id


def _id(request: web.Request) -> int:
    return path_id(request, "conversation_id", "no such conversation")


def _back(request: web.Request, conversation_id: int) -> web.StreamResponse:
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"ok": True})
    raise web.HTTPSeeOther(f"/workbench/conversations/{conversation_id}")


@agent_page
async def edit_customer(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    form = await request.post()
    conversation_id = _id(request)
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
        customer, changed = await update_contact(
            session=session, org_id=member_org_id(agent), customer_id=conversation.customer_id, name=str(form.get("name", "")),
            email=str(form.get("email", "")), phone=str(form.get("phone", "")),
        )
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="edit_customer",
                     subject_type="customer", subject_id=customer.id, detail={"fields": changed, "conversation_id": conversation_id})
    return _back(request, conversation_id)


@agent_page
async def label_view(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    form = await request.post()
    conversation_id = _id(request)
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
        if form.get("remove"):
            await remove_label(session=session, conversation=conversation, label=str(form.get("remove", "")))
        else:
            await add_label(session=session, conversation=conversation, label=str(form.get("label", "")))
    return _back(request, conversation_id)


@agent_page
async def priority_view(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    form = await request.post()
    conversation_id = _id(request)
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
        await set_priority(session=session, conversation=conversation, priority=str(form.get("priority", "")))
    return _back(request, conversation_id)


def parse_until(value: str, offset_minutes: str) -> datetime:
    """A `datetime-local` value in the agent's own timezone (offset from the browser) to naive UTC."""
    try:
        local = datetime.fromisoformat(value)
        offset = int(offset_minutes or "0")
    except ValueError:
        raise InvalidInput("snooze: pick a date and time") from None
    if local.tzinfo is not None or abs(offset) > 14 * 60:
        raise InvalidInput("snooze: pick a date and time")
    stamp = local.replace(tzinfo=UTC).timestamp() + offset * 60  # JS getTimezoneOffset(): UTC minus local
    return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)


@agent_page
async def snooze_view(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    agent = request[AGENT]
    form = await request.post()
    conversation_id = _id(request)
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
        until = parse_until(str(form.get("until", "")), str(form.get("tz_offset", "0")))  # after the lookup: another org's id is a 404
        await snooze(session=session, conversation=conversation, until=until)
    await ctx.hub.publish(f"org:{agent.org_id}", {"type": "conversation", "conversation_id": conversation_id, "status": "pending"})
    return _back(request, conversation_id)


@agent_page
async def typing_view(request: web.Request) -> web.StreamResponse:
    """The agent is typing a reply: the customer's web chat shows it (nothing is stored)."""
    ctx = request.app[CTX]
    agent = request[AGENT]
    async with agent_session(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=_id(request))
        identity = await conversation_identity(session=session, conversation=conversation)
    if identity.channel == "telegram" and TG in request.app:
        from aiogram.exceptions import TelegramAPIError  # loaded only when Telegram is on

        # Telegram shows "typing…" for about five seconds; a failure here only loses the hint.
        with contextlib.suppress(TelegramAPIError, TimeoutError, ValueError):
            await asyncio.wait_for(request.app[TG].bot.send_chat_action(chat_id=int(identity.external_id), action="typing"), 5)
    else:
        await ctx.hub.publish(f"customer:{conversation.customer_id}", {"type": "typing"})
    return web.json_response({"ok": True})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/workbench/conversations/{conversation_id}/typing", typing_view)
    r.add_post("/workbench/conversations/{conversation_id}/customer", edit_customer)
    r.add_post("/workbench/conversations/{conversation_id}/labels", label_view)
    r.add_post("/workbench/conversations/{conversation_id}/priority", priority_view)
    r.add_post("/workbench/conversations/{conversation_id}/snooze", snooze_view)
