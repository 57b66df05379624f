"""Greeting with the brand card, the first-contact privacy notice and consent, help and language.

Consent buttons carry the number of answers the customer had given when the notice was shown (or, on a
policy-change broadcast, the version they answer): a button acts only while no newer answer exists, so
pressing an old notice's "No, thanks" after "I agree" changes nothing. Typing `start` shows a fresh notice
to a customer who declined, to agree after all.
"""

from __future__ import annotations

from bot.core.conversations.customers import consent_count, latest_consent, latest_consent_version, record_consent
from bot.core.conversations.events import Button, Reply
from bot.core.orgs.policy import current_version
from bot.flows.engine import FlowCall, register, register_customer_fact, run_flows
from bot.flows.texts import LOCALES


def brand_card(call: FlowCall) -> Reply:
    org = call.org
    return Reply(
        text=call.text("brand_card"),
        kind="brand_card",
        data={"brand": org.brand or org.name, "profile": org.profile, "website": org.website,
              "certified": org.certification_state == "certified"},
    )


def consent_buttons(call: FlowCall, answers: int) -> tuple[Button, ...]:
    return (
        Button(call.text("button_agree"), f"consent:yes:{answers}"),
        Button(call.text("button_decline"), f"consent:no:{answers}"),
    )


async def policy_version(call: FlowCall) -> str:
    """The newest published policy version (bot/core/orgs/policy.py), else `privacy.policy_version`."""
    return await current_version(session=call.session, settings=call.settings)


async def _needs_consent(call: FlowCall) -> bool:
    consent = await latest_consent(session=call.session, customer_id=call.customer.id)
    if consent is None or consent.policy_version != await policy_version(call):
        return True
    return not consent.granted and call.command == "start"  # declined, and asks to see it again


@register("greeting")
async def greeting(call: FlowCall) -> list[Reply] | None:
    if not (call.new_conversation or call.command == "start"):
        return None
    replies = [brand_card(call)]
    if await _needs_consent(call):
        answers = await consent_count(session=call.session, customer_id=call.customer.id)
        replies.append(
            Reply(
                text=call.text("privacy_notice", version=await policy_version(call)),
                kind="notice",
                buttons=consent_buttons(call, answers),
            )
        )
    replies.append(call.reply("welcome"))
    if call.command and call.command != "start":  # a first message that is a command (help, verify…) is answered too
        replies.extend(await run_flows(call, after="greeting"))
    return replies


# The version of the customer's latest consent answer, read with the ingest batch's customers (the policy gate's
# question on every message); answering here makes it stale for the rest of the batch, so it is dropped then.
CONSENT_ANSWERED = "consent.answered"
register_customer_fact(CONSENT_ANSWERED, latest_consent_version)


@register("consent")
async def consent(call: FlowCall) -> list[Reply] | None:
    if call.event.kind != "button" or not call.event.payload.startswith("consent:"):
        return None
    _, answer, shown_after = (call.event.payload.split(":", 2) + [""])[:3]
    if shown_after.startswith("v="):
        # A policy-change notice's buttons answer one version: they act until the customer has answered it.
        latest = await latest_consent(session=call.session, customer_id=call.customer.id)
        if shown_after[2:] != await policy_version(call) or (latest is not None and latest.policy_version == shown_after[2:]):
            return [call.reply("consent_outdated")]
    # A notice's buttons act only while no answer newer than the notice exists (old payloads: no answer at all).
    elif await consent_count(session=call.session, customer_id=call.customer.id) != (int(shown_after) if shown_after.isdigit() else 0):
        return [call.reply("consent_outdated")]
    granted = answer == "yes"
    await record_consent(
        session=call.session,
        customer=call.customer,
        policy_version=await policy_version(call),
        granted=granted,
        channel=call.identity.channel,
    )
    if call.facts is not None:
        call.facts.pop(CONSENT_ANSWERED, None)  # the batch's next turns of this customer look it up again
    return [call.reply("consent_thanks" if granted else "consent_declined")]


@register("help_and_language")
async def help_and_language(call: FlowCall) -> list[Reply] | None:
    event = call.event
    if event.kind == "button" and event.payload.startswith("lang:"):
        locale = event.payload.split(":", 1)[1]
        if locale in LOCALES:
            call.customer.locale = locale
        return [call.reply("language_set")]
    if call.command == "help":
        return [call.reply("help")]
    if call.command == "language":
        buttons = tuple(Button(render_label(code), f"lang:{code}") for code in LOCALES)
        return [call.reply("language_choose", buttons=buttons)]
    return None


def render_label(code: str) -> str:
    return {"en": "English", "zh": "中文"}[code]
