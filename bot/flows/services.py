"""Service switches in the chat: when an organization turns a channel off, every message on it is
answered with a notice that the service is off, and no other flow runs (first in FLOW_ORDER)."""

from __future__ import annotations

from bot.core.conversations.events import Reply
from bot.core.orgs.profile import service_on
from bot.flows.engine import FlowCall, register


@register("service_switch")
async def service_switch(call: FlowCall) -> list[Reply] | None:
    if service_on(call.org, f"channel:{call.identity.channel}"):
        return None
    return [call.reply("service_off")]
