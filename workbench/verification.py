"""Identity checks in the workbench: ask a customer to verify, and the admins' list of locked identity checks."""

from __future__ import annotations

from aiohttp import web

from bot.core.common.errors import NotFound
from bot.core.conversations.events import Button, Reply
from bot.core.conversations.live import publish_message
from bot.core.conversations.models import ChannelIdentity, Customer
from bot.core.conversations.outbound import send_to_conversation
from bot.core.conversations.serialize import message_json
from bot.core.conversations.threads import get_conversation
from bot.core.identity.codes import Destination
from bot.core.lockouts import list_lockouts, unlock
from bot.core.orgs.audit import record
from bot.core.orgs.permissions import Permission, member_org_id
from bot.flows.texts import render_text
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_transaction
from workbench.params import path_id
from workbench.render import render


@agent_page
async def ask_to_verify(request: web.Request) -> web.StreamResponse:
    """Sends the customer a bot message with a "Verify" button, in the conversation's own channel."""
    ctx = request.app[CTX]
    agent = request[AGENT]
    conversation_id = path_id(request, "conversation_id", "no such conversation")
    async with agent_transaction(request) as session:
        conversation = await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
        identity = await session.get(ChannelIdentity, conversation.identity_id)
        customer = await session.get(Customer, conversation.customer_id)
        if identity is None or customer is None:
            raise NotFound("the conversation has no channel")
        locale = customer.locale
        reply = Reply(
            text=render_text("verify_request", locale),
            buttons=(Button(render_text("verify_button_start", locale), "verify:start"),),
        )
        message = await send_to_conversation(session=session, conversation=conversation, identity=identity, reply=reply,
                                             author_type="bot")
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="ask_to_verify",
                     subject_type="customer", subject_id=customer.id, detail={"conversation_id": conversation_id})
    await publish_message(ctx.hub, org_id=member_org_id(agent), conversation_id=conversation_id, customer_id=None,
                          message=message_json(message))
    ctx.dispatcher.wake()
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"message": message_json(message)})
    raise web.HTTPSeeOther(f"/workbench/conversations/{conversation_id}")


def _masked(scope: str, key: str) -> str:
    return "" if scope == "identity" else Destination("email" if "@" in key else "sms", key).masked


@agent_page(permission=Permission.SECURITY_VIEW)
async def locks_page(request: web.Request) -> web.Response:
    agent = request[AGENT]
    async with agent_transaction(request) as session:
        locks = await list_lockouts(session=session, org_id=member_org_id(agent))
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id,
                     action="view_verification_locks", detail={"rows": len(locks)})
    rows = [{"lock": lock, "target": _masked(lock.scope, lock.key)} for lock in locks]
    return render(request, "workbench/verification_locks.html", rows=rows)


@agent_page(permission=Permission.SECURITY_VIEW)
async def unlock_view(request: web.Request) -> web.StreamResponse:
    agent = request[AGENT]
    lock_id = path_id(request, "lock_id", "no such lockout")
    async with agent_transaction(request) as session:
        lock = await unlock(session=session, org_id=member_org_id(agent), lock_id=lock_id)
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="unlock_verification",
                     subject_type="verification_lock", subject_id=lock.id, detail={"scope": lock.scope})
    raise web.HTTPSeeOther("/workbench/verification/locks")


def setup(app: web.Application) -> None:
    app.router.add_post("/workbench/conversations/{conversation_id}/ask-verify", ask_to_verify)
    app.router.add_get("/workbench/verification/locks", locks_page)
    app.router.add_post("/workbench/verification/locks/{lock_id}/unlock", unlock_view)
