"""A conversation: thread, customer sidebar, reply, note, assign, status, files."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PRIORITIES
from bot.core.canned_replies import fill, list_canned
from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput
from bot.core.conversations.customers import get_customer, latest_consent, list_identities
from bot.core.conversations.live import publish_message
from bot.core.conversations.models import Conversation, Customer
from bot.core.conversations.replies import reply_as_agent
from bot.core.conversations.serialize import message_json
from bot.core.conversations.threads import add_note, assign, get_conversation, list_messages, mark_read, set_status
from bot.core.customer_context import past_conversations
from bot.core.files.attachments import (
    attachment_path,
    attachments_by_id,
    check_upload,
    content_disposition,
    get_attachment,
    store_attachment,
)
from bot.core.files.models import Attachment
from bot.core.inbox import neighbours
from bot.core.orgs.agents import list_agents
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent, Organization
from bot.core.orgs.organizations import get_organization
from bot.core.orgs.permissions import member_org_id
from bot.core.rights.apps import app_states
from bot.core.rights.requests import GROUNDS, KINDS
from bot.core.triage import get_triage
from bot.core.work_orders.clocks import sync_conversation_clock
from bot.core.work_orders.csat import ask_conversation_csat
from bot.core.work_orders.services import conversation_work_orders
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_transaction
from workbench.params import path_id
from workbench.render import render


def _id(request: web.Request, key: str = "conversation_id") -> int:
    return path_id(request, key, "no such file" if key == "attachment_id" else "no such conversation")


@agent_page
async def conversation_page(request: web.Request) -> web.Response:
    agent = request[AGENT]
    org_id = member_org_id(agent)
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=org_id, conversation_id=_id(request))
        customer = await get_customer(session=session, org_id=org_id, customer_id=conversation.customer_id)
        messages = await list_messages(session=session, org_id=org_id, conversation_id=conversation.id)
        identities = await list_identities(session=session, org_id=org_id, customer_id=customer.id)
        consent = await latest_consent(session=session, customer_id=customer.id)
        org = await get_organization(session=session, org_id=org_id)
        agents = await list_agents(session=session, org_id=org_id)
        work_orders = await conversation_work_orders(session=session, org_id=org_id, conversation_id=conversation.id)
        apps = await app_states(session=session, org_id=org_id, customer_id=customer.id)
        context = await _context(session, agent, conversation, customer, org)
        files = await attachments_by_id(session=session, org_id=org_id, ids=[m.attachment_id for m in messages if m.attachment_id])
        await mark_read(session=session, conversation=conversation)
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="view_conversation",
                     subject_type="customer", subject_id=customer.id, detail={"conversation_id": conversation.id})
    names = {a.id: a.name for a in agents}
    await request.app[CTX].hub.publish(f"customer:{customer.id}", {"type": "read", "conversation_id": conversation.id})  # read receipt
    return render(
        request,
        "workbench/conversation.html",
        conversation=conversation,
        customer=customer,
        messages=[_with_file(dict(message_json(m), agent_name=names.get(m.author_agent_id or 0, "")), files) for m in messages],
        identities=identities,
        consent=consent,
        org=org,
        agents=agents,
        work_orders=work_orders,
        work_order_categories=request.app[CTX].settings.sla.categories,
        apps=apps,
        rights_kinds=KINDS,
        grounds=GROUNDS,
        **context,
    )


async def _context(session: AsyncSession, agent: Agent, conversation: Conversation, customer: Customer,
                   org: Organization) -> dict[str, Any]:
    """Triage, the customer's other conversations, keyboard neighbours and this organization's canned replies."""
    canned = await list_canned(session=session, org_id=member_org_id(agent))
    name = customer.name or f"Visitor #{customer.id}"
    newer, older = await neighbours(session=session, org_id=member_org_id(agent), conversation=conversation)
    return {
        "triage": await get_triage(session=session, conversation=conversation),
        "past": await past_conversations(session=session, org_id=member_org_id(agent), customer_id=customer.id, exclude_id=conversation.id),
        "newer_id": newer,
        "older_id": older,
        "priorities": PRIORITIES,
        "canned": [{"shortcut": c.shortcut, "text": fill(c.text, customer_name=name, agent_name=agent.name, brand=org.brand or org.name)}
                   for c in canned],
    }


def _with_file(message: dict[str, Any], files: dict[int, Attachment]) -> dict[str, Any]:
    attachment = files.get(message["attachment_id"] or 0)
    if attachment is not None:
        message.update(filename=attachment.filename, mime_type=attachment.mime_type)
    return message


def _done(request: web.Request, conversation_id: int, payload: dict[str, object] | None = None) -> web.StreamResponse:
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(payload or {"ok": True})
    raise web.HTTPSeeOther(f"/workbench/conversations/{conversation_id}")


@agent_page
async def reply(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    agent = request[AGENT]
    form = await request.post()
    conversation_id = _id(request)
    upload = form.get("file")
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
        attachment_id = None
        files: dict[int, Attachment] = {}
        if isinstance(upload, web.FileField) and upload.filename:
            content = upload.file.read()
            limits = ctx.settings.webchat
            mime = (upload.content_type or "application/octet-stream").lower()
            check_upload(size=len(content), mime_type=mime, max_bytes=limits.max_upload_bytes, allowed=limits.allowed_mime_types)
            attachment = await store_attachment(session=session, data_dir=ctx.settings.data_dir, org_id=member_org_id(agent),
                                                customer_id=conversation.customer_id, filename=upload.filename,
                                                mime_type=mime, content=content)
            attachment_id = attachment.id
            files[attachment.id] = attachment
        message = await reply_as_agent(session=session, conversation=conversation, agent=agent,
                                       text=str(form.get("text", "")), attachment_id=attachment_id)
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="reply",
                     subject_type="customer", subject_id=conversation.customer_id,
                     detail={"conversation_id": conversation.id, "message_id": message.id})
    body = _with_file(dict(message_json(message), agent_name=agent.name), files)
    await publish_message(ctx.hub, org_id=member_org_id(agent), conversation_id=conversation_id, customer_id=None, message=body)
    ctx.dispatcher.wake()
    return _done(request, conversation_id, {"message": body})


@agent_page
async def note(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    agent = request[AGENT]
    form = await request.post()
    conversation_id = _id(request)
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
        message = await add_note(session=session, conversation=conversation, agent=agent, text=str(form.get("text", "")))
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="note",
                     subject_type="customer", subject_id=conversation.customer_id,
                     detail={"conversation_id": conversation.id, "message_id": message.id})
    body = dict(message_json(message), agent_name=agent.name)
    await publish_message(ctx.hub, org_id=member_org_id(agent), conversation_id=conversation_id, customer_id=None, message=body)
    return _done(request, conversation_id, {"message": body})


@agent_page
async def assign_view(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    form = await request.post()
    raw = str(form.get("assignee_id", ""))
    try:
        assignee = int(raw) if raw else None
    except ValueError:
        raise InvalidInput("assignee: not an agent id") from None
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=_id(request))
        await assign(session=session, conversation=conversation, assignee_id=assignee)
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="assign",
                     subject_type="conversation", subject_id=conversation.id, detail={"assignee_id": assignee})
    return _done(request, conversation.id)


@agent_page
async def status_view(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    agent = request[AGENT]
    form = await request.post()
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=_id(request))
        before = conversation.status
        await set_status(session=session, conversation=conversation, status=str(form.get("status", "")))
        await sync_conversation_clock(session=session, settings=ctx.settings, conversation=conversation, stamp=now())
        asked = await ask_conversation_csat(session=session, conversation=conversation)
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="set_status",
                     subject_type="customer", subject_id=conversation.customer_id,
                     detail={"conversation_id": conversation.id, "before": before, "after": conversation.status})
    if asked:
        ctx.dispatcher.wake()
    await ctx.hub.publish(f"org:{agent.org_id}", {"type": "conversation", "conversation_id": conversation.id,
                                                  "status": conversation.status})
    await ctx.hub.publish(f"customer:{conversation.customer_id}", {"type": "status", "status": conversation.status})
    return _done(request, conversation.id)


@agent_page
async def file_view(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    agent = request[AGENT]
    async with agent_transaction(request) as session:
        attachment = await get_attachment(session=session, org_id=member_org_id(agent), attachment_id=_id(request, "attachment_id"))
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="view_file",
                     subject_type="attachment", subject_id=attachment.id)
    # Voice, audio and video play in the agent's browser; everything else downloads.
    return web.FileResponse(
        attachment_path(ctx.settings.data_dir, attachment),
        headers={"Content-Type": attachment.mime_type, "Content-Disposition": content_disposition(attachment)},
    )
