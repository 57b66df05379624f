"""Greeting with the brand card, the first-contact privacy notice and consent, help and language."""

from __future__ import annotations

from bot.core.conversations.customers import latest_consent, record_consent
from bot.core.conversations.events import Button, Reply
from bot.core.orgs.policy import current_version
from bot.flows.engine import FlowCall, register, run_flows
from bot.flows.texts import LOCALES


def brand_card(call: FlowCall) -> Reply:
    org = call.org
    return Reply(
        text=call.text("brand_card"),
        kind="brand_card",
        data={"brand": org.brand or org.name, "profile": org.profile, "website": org.website,
              "certified": org.certification_state == "certified"},
    )


def consent_buttons(call: FlowCall) -> tuple[Button, ...]:
    return (Button(call.text("button_agree"), "consent:yes"), Button(call.text("button_decline"), "consent:no"))


async def policy_version(call: FlowCall) -> str:
    """The newest published policy version (bot/core/orgs/policy.py), else `privacy.policy_version`."""
    return await current_version(session=call.session, settings=call.settings)


async def _needs_consent(call: FlowCall) -> bool:
    consent = await latest_consent(session=call.session, customer_id=call.customer.id)
    return consent is None or consent.policy_version != await policy_version(call)


@register("greeting")
async def greeting(call: FlowCall) -> list[Reply] | None:
    if not (call.new_conversation or call.command == "start"):
        return None
    replies = [brand_card(call)]
    if await _needs_consent(call):
        replies.append(
            Reply(
                text=call.text("privacy_notice", version=await policy_version(call)),
                kind="notice",
                buttons=consent_buttons(call),
            )
        )
    replies.append(call.reply("welcome"))
    if call.command and call.command != "start":  # a first message that is a command (help, verify…) is answered too
        replies.extend(await run_flows(call, after="greeting"))
    return replies


@register("consent")
async def consent(call: FlowCall) -> list[Reply] | None:
    if call.event.kind != "button" or not call.event.payload.startswith("consent:"):
        return None
    granted = call.event.payload == "consent:yes"
    await record_consent(
        session=call.session,
        customer=call.customer,
        policy_version=await policy_version(call),
        granted=granted,
        channel=call.identity.channel,
    )
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
