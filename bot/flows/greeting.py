"""Greeting with the brand card, the first-contact privacy notice and consent, help and language.

A new chat gets two messages: the brand card, then the welcome with the privacy notice and its buttons under it
(the question last, where the buttons are); a customer who has answered the current notice gets the welcome alone.
Each message is a send under the platform's pace (Telegram: 30 a second in all, one a second to a chat), so a burst
of new chats is greeted half as fast again as with the welcome on its own.

Consent buttons carry the number of answers the customer had given when the notice was shown (or, on a
policy-change broadcast, the version they answer): a button acts only while no newer answer exists, so
pressing an old notice's "No, thanks" after "I agree" changes nothing. Typing `start` shows a fresh notice
to a customer who declined, to agree after all.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from bot.core.conversations.customers import consent_count, latest_consent, record_consent
from bot.core.conversations.events import Button, Reply
from bot.core.notices.policy import current_version
from bot.flows.engine import FlowCall, register, run_flows
from bot.flows.texts import LOCALES, render_text


@dataclass(frozen=True)
class Greeting:
    """The parts of a greeting that are the same for every customer of an organization in one language under
    one policy version: rendered once, then copied into each new chat's replies."""

    brand_card: str
    brand: dict[str, Any]
    agree: str
    decline: str
    welcome: str
    welcome_and_notice: str


# Keyed by every organization field the templates read, the locale and the policy version: a changed profile,
# brand or certification, or a newly published policy version is a new key, so nothing stale is ever served.
_GREETINGS: OrderedDict[tuple[Any, ...], Greeting] = OrderedDict()
GREETINGS_KEPT = 512


def prepared(call: FlowCall, version: str) -> Greeting:
    org = call.org
    key = (org.id, org.name, org.brand, org.profile, org.website, org.certification_state, call.locale, version)
    hit = _GREETINGS.get(key)
    if hit is not None:
        _GREETINGS.move_to_end(key)
        return hit

    def render(name: str, **context: Any) -> str:  # no customer in the context: these texts are not personal
        return render_text(name, call.locale, org=org, **context)

    notice, welcome = render("privacy_notice", version=version), render("welcome")
    greeting = Greeting(
        brand_card=render("brand_card"),
        brand={"brand": org.brand or org.name, "profile": org.profile, "website": org.website,
               "certified": org.certification_state == "certified"},
        agree=render("button_agree"),
        decline=render("button_decline"),
        welcome=welcome,
        welcome_and_notice=f"{welcome}\n\n{notice}",
    )
    _GREETINGS[key] = greeting
    if len(_GREETINGS) > GREETINGS_KEPT:
        _GREETINGS.popitem(last=False)
    return greeting


def brand_card(greeting: Greeting) -> Reply:
    return Reply(text=greeting.brand_card, kind="brand_card", data=dict(greeting.brand))


def consent_buttons(call: FlowCall, answers: int) -> tuple[Button, ...]:
    return (
        Button(call.text("button_agree"), f"consent:yes:{answers}"),
        Button(call.text("button_decline"), f"consent:no:{answers}"),
    )


async def policy_version(call: FlowCall) -> str:
    """The newest published policy version (bot/core/notices/policy.py), else `privacy.policy_version`."""
    return await current_version(session=call.session, settings=call.settings)


async def _needs_consent(call: FlowCall) -> bool:
    if call.new_customer:  # created by this very message: no answer of theirs exists yet
        return True
    consent = await latest_consent(session=call.session, customer_id=call.customer.id)
    if consent is None or consent.policy_version != await policy_version(call):
        return True
    return not consent.granted and call.command == "start"  # declined, and asks to see it again


@register("greeting")
async def greeting(call: FlowCall) -> list[Reply] | None:
    if not (call.new_conversation or call.command == "start"):
        return None
    greeting = prepared(call, await policy_version(call))
    replies = [brand_card(greeting)]
    if await _needs_consent(call):
        answers = 0 if call.new_customer else await consent_count(session=call.session, customer_id=call.customer.id)
        buttons = (Button(greeting.agree, f"consent:yes:{answers}"), Button(greeting.decline, f"consent:no:{answers}"))
        replies.append(Reply(text=greeting.welcome_and_notice, kind="notice", buttons=buttons))
    else:
        replies.append(Reply(text=greeting.welcome))
    if call.command and call.command != "start":  # a first message that is a command (help, verify…) is answered too
        replies.extend(await run_flows(call, after="greeting"))
    return replies


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
