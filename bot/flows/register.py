"""`register` in any chat registers an organization: the bot asks for its name and the main
administrator's email, creates the organization and emails a single-use link to set a password.

No password goes through the chat. A duplicate name (any letter case) or an invalid address is
answered politely and asked again; `cancel` stops. State lives in the identity's flow_state.
"""

from __future__ import annotations

from bot.core.common.errors import Conflict, InvalidInput
from bot.core.conversations.events import Reply
from bot.core.delivery.outbox import enqueue
from bot.core.orgs.organizations import name_taken
from bot.core.orgs.signup import sign_up_by_chat
from bot.flows.engine import FlowCall, register

STATE = "register"


@register("register")
async def register_flow(call: FlowCall) -> list[Reply] | None:
    step = call.state.get(STATE)
    if step is None:
        if call.command != "register":
            return None
        call.set_state(**{STATE: {"step": "name"}})
        return [call.reply("register_ask_name")]
    if call.event.kind != "text":
        return None
    text = call.event.text.strip()
    if text.lower() in ("cancel", "/cancel"):
        call.set_state(**{STATE: None})
        return [call.reply("register_cancelled")]
    if step.get("step") == "name":
        return await _name(call, text)
    return await _email(call, str(step.get("name", "")), text)


async def _name(call: FlowCall, name: str) -> list[Reply]:
    if not name or len(name) > 200:
        return [call.reply("register_bad_name")]
    if await name_taken(session=call.session, name=name):
        return [call.reply("register_name_taken", org_name=name)]
    call.set_state(**{STATE: {"step": "email", "name": name}})
    return [call.reply("register_ask_email", org_name=name)]


async def _email(call: FlowCall, name: str, email: str) -> list[Reply]:
    settings = call.settings
    try:
        async with call.session.begin_nested():  # a refused name or address leaves nothing behind
            org, token = await sign_up_by_chat(session=call.session, org_name=name, email=email,
                                               hours=settings.orgs.invitation_hours, customer_id=call.customer.id)
    except InvalidInput:
        return [call.reply("register_bad_email")]
    except Conflict:
        call.set_state(**{STATE: {"step": "name"}})
        return [call.reply("register_name_taken", org_name=name)]
    link = f"{settings.server.public_url.rstrip('/')}/workbench/invite/{token}"
    await enqueue(session=call.session, channel="email", target=email.strip().lower(), org_id=org.id,
                  idempotency_key=f"register:{org.id}",
                  payload={"subject": f"{org.name} on INCS Support",
                           "text": call.text("register_email", org_name=org.name, link=link, hours=settings.orgs.invitation_hours)})
    call.set_state(**{STATE: None})
    return [call.reply("register_done", org_name=org.name)]
