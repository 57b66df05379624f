"""The re-consent gate: after a major policy change, a customer who answered an older version gets the
change's summary and the consent buttons on every message, and no other flow runs (verification,
registration…), until they answer. Consent buttons, help and language pass through."""

from __future__ import annotations

from bot.core.conversations.customers import consent_count
from bot.core.conversations.events import Reply
from bot.core.orgs.policy import needs_reconsent
from bot.flows.engine import FlowCall, register
from bot.flows.greeting import CONSENT_ANSWERED, consent_buttons

PASS = ("help", "language")


@register("policy_gate")
async def policy_gate(call: FlowCall) -> list[Reply] | None:
    event = call.event
    if event.kind == "button" and (event.payload.startswith("consent:") or event.payload.startswith("lang:")):
        return None
    if call.command in PASS:
        return None
    if call.facts is not None and CONSENT_ANSWERED in call.facts:  # read with the batch: no query per message
        version = await needs_reconsent(session=call.session, customer_id=call.customer.id,
                                        answered=call.facts[CONSENT_ANSWERED])
    else:
        version = await needs_reconsent(session=call.session, customer_id=call.customer.id)
    if version is None:
        return None
    answers = await consent_count(session=call.session, customer_id=call.customer.id)
    return [Reply(text=call.text("policy_changed", version=version.version, summary=version.summary), kind="notice",
                  buttons=consent_buttons(call, answers))]
