"""The re-consent gate: after a major policy change, a customer who answered an older version gets the
change's summary and the consent buttons on every message, and no other flow runs (verification,
registration…), until they answer. Consent buttons, help and language pass through."""

from __future__ import annotations

from bot.core.conversations.customers import consent_count
from bot.core.conversations.events import Reply
from bot.core.notices.policy import needs_reconsent
from bot.flows.engine import FlowCall, register
from bot.flows.greeting import consent_buttons

PASS = ("help", "language")


@register("policy_gate")
async def policy_gate(call: FlowCall) -> list[Reply] | None:
    event = call.event
    if event.kind == "button" and (event.payload.startswith("consent:") or event.payload.startswith("lang:")):
        return None
    if call.command in PASS or call.new_customer:  # a first-time customer gets the greeting's notice instead
        return None
    version = await needs_reconsent(session=call.session, customer_id=call.customer.id)
    if version is None:
        return None
    answers = await consent_count(session=call.session, customer_id=call.customer.id)
    return [Reply(text=call.text("policy_changed", version=version.version, summary=version.summary), kind="notice",
                  buttons=consent_buttons(call, answers))]
