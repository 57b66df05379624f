"""The privacy menu, on every channel: `privacy` (web chat), `/privacy` (Telegram menu), `/support privacy` (Slack).

The customer picks a request type (deletion: one of the policy's five grounds; correction, authorization and
complaint: one message of detail). Each request needs a fresh identity check (`require_verification`); the
pending choice waits in the identity's flow state and resumes with the "Continue" button after the code.
Then the request is registered, its clock starts, and the customer is told its number and due date.
A customer writing while a request awaits them restarts that request's clock.
Service switches: the menu offers only the request types the organization has on; a type turned off (or
third-party apps turned off) is answered with a notice, before any identity check is asked for.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.core.common.errors import DomainError
from bot.core.conversations.events import Button, Reply
from bot.core.orgs.profile import service_on
from bot.core.orgs.switches import APPS, ServiceOff, rights_switch
from bot.core.rights.apps import app_states, set_authorization
from bot.core.rights.requests import (
    CORRECTABLE,
    GROUNDS,
    KINDS,
    customer_answered,
    mark_verified,
    open_request,
    open_requests_of,
)
from bot.core.rights.requests import request_number as number_of
from bot.core.rights.texts import label
from bot.flows.engine import FlowCall, register
from bot.flows.verify import require_verification
from bot.i18n import error_text, gettext

STATE = "privacy"
COMMANDS = ("privacy", "隐私")
RESUME = "privacy:go"
NEEDS_TEXT = ("correct", "authorization", "complaint")


def _on(call: FlowCall, kind: str) -> bool:
    key = APPS if kind == "app" else rights_switch(kind)
    return key is None or service_on(call.org, key)


def _off(call: FlowCall, kind: str) -> list[Reply]:
    call.set_state(**{STATE: None})
    if kind == "app":
        return [call.reply("apps_off")]
    return [call.reply("rights_kind_off", kind_label=label(kind, call.locale))]


def _menu(call: FlowCall) -> list[Reply]:
    buttons = tuple(Button(label(kind, call.locale), f"privacy:{kind}") for kind in KINDS if _on(call, kind))
    return [call.reply("rights_menu", buttons=buttons, days=call.settings.privacy.response_days)]


def _bad(call: FlowCall, reason: str) -> list[Reply]:
    call.set_state(**{STATE: None})
    return [call.reply("rights_bad_input", reason=reason)]


async def _start(call: FlowCall, pending: dict[str, Any]) -> list[Reply]:
    kind = "app" if "toggle" in pending else str(pending.get("kind"))
    if not _on(call, kind):
        return _off(call, kind)
    call.set_state(**{STATE: {"pending": pending}})
    gate = await require_verification(call, resume=RESUME)
    if gate is not None:
        return gate
    return await _register(call, pending)


async def _register(call: FlowCall, pending: dict[str, Any]) -> list[Reply]:
    call.set_state(**{STATE: None})
    if "toggle" in pending:
        return await _toggle(call, int(pending["toggle"][0]), bool(pending["toggle"][1]))
    try:
        request = await open_request(
            session=call.session, settings=call.settings, org_id=call.org.id, customer_id=call.customer.id,
            identity_id=call.identity.id, kind=str(pending.get("kind")), ground=str(pending.get("ground", "")),
            details=dict(pending.get("details") or {}),
        )
    except ServiceOff:
        return _off(call, str(pending.get("kind")))
    except DomainError as exc:
        return _bad(call, error_text(exc, call.locale))
    await mark_verified(session=call.session, settings=call.settings, request=request)
    assert request.due_at is not None
    due = (request.due_at - timedelta(microseconds=1)).strftime("%Y-%m-%d")
    return [call.reply("rights_received", number=number_of(request), due=due, kind_label=label(request.kind, call.locale),
                       repeated=request.repeated)]


async def _on_button(call: FlowCall, payload: str) -> list[Reply]:
    parts = payload.split(":")
    if payload == RESUME:
        pending = (call.state.get(STATE) or {}).get("pending")
        return await _start(call, pending) if pending else _menu(call)
    kind = parts[1] if len(parts) > 1 else ""
    if kind == "app" and len(parts) == 4 and parts[2].isdigit() and parts[3] in ("on", "off"):
        return await _start(call, {"toggle": [int(parts[2]), parts[3] == "on"]})
    if kind == "authorization" and len(parts) == 2:
        return await _apps(call)
    if kind == "authorization" and parts[2:] == ["other"]:
        call.set_state(**{STATE: {"awaiting_text": kind}})
        return [call.reply("rights_ask_text")]
    if kind not in KINDS:
        return _bad(call, gettext(call.locale, "Unknown request type."))
    if not _on(call, kind):
        return _off(call, kind)
    if kind == "delete":
        if len(parts) == 2:
            buttons = tuple(Button(label(g, call.locale), f"privacy:delete:{g}") for g in GROUNDS)
            return [call.reply("rights_choose_ground", buttons=buttons)]
        if parts[2] not in GROUNDS:
            return _bad(call, gettext(call.locale, "Unknown ground for deletion."))
        return await _start(call, {"kind": "delete", "ground": parts[2]})
    if kind in NEEDS_TEXT and kind != "authorization":
        call.set_state(**{STATE: {"awaiting_text": kind}})
        return [call.reply("rights_ask_correction" if kind == "correct" else "rights_ask_text")]
    return await _start(call, {"kind": kind})


async def _apps(call: FlowCall) -> list[Reply]:
    if not _on(call, "app"):  # nothing to authorize; another authorization request can still be made
        return [call.reply("apps_off", buttons=(Button(call.text("rights_button_other"), "privacy:authorization:other"),))]
    states = await app_states(session=call.session, org_id=call.org.id, customer_id=call.customer.id)
    buttons = tuple(Button(call.text("rights_button_app", app=s.app.name, enabled=s.enabled),
                           f"privacy:app:{s.app.id}:{'off' if s.enabled else 'on'}") for s in states)
    return [call.reply("rights_apps", buttons=(*buttons, Button(call.text("rights_button_other"), "privacy:authorization:other")),
                       states=states)]


async def _toggle(call: FlowCall, app_id: int, enabled: bool) -> list[Reply]:
    try:
        state = await set_authorization(session=call.session, org_id=call.org.id, customer_id=call.customer.id, app_id=app_id,
                                        enabled=enabled, actor_type="customer", actor_id=call.customer.id)
    except ServiceOff:
        return _off(call, "app")
    except DomainError as exc:
        return _bad(call, error_text(exc, call.locale))
    return [call.reply("rights_app_changed", app=state.app.name, enabled=state.enabled)]


def _details(kind: str, text: str) -> dict[str, Any] | None:
    if kind != "correct":
        return {"text": text.strip()[:2000]}
    field, sep, value = text.partition(":")
    if not sep or field.strip().lower() not in CORRECTABLE or not value.strip():
        return None
    return {"field": field.strip().lower(), "value": value.strip()[:320]}


@register("privacy")
async def privacy(call: FlowCall) -> list[Reply] | None:
    event = call.event
    if event.kind == "button" and event.payload.startswith("privacy:"):
        return await _on_button(call, event.payload)
    if call.command in COMMANDS:
        call.set_state(**{STATE: None})
        return _menu(call)
    waiting = (call.state.get(STATE) or {}).get("awaiting_text")
    if waiting and event.kind == "text" and event.text.strip():
        details = _details(waiting, event.text)
        if details is None:
            return _bad(call, gettext(call.locale, "That field does not exist or the value is empty."))
        return await _start(call, {"kind": waiting, "details": details})
    if event.kind == "text":
        for request in await open_requests_of(session=call.session, org_id=call.org.id, customer_id=call.customer.id):
            await customer_answered(session=call.session, settings=call.settings, request=request)
    return None
