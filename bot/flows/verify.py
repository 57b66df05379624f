"""The identity check, on every channel: address -> 6-digit code -> linked to the customer who owns the address.

Started by /verify (or the word `verify`), by the "Verify" button an agent sends, or by a flow that
needs a recent verification (`require_verification`). The typed code is replaced by dots before the
message is stored, so it never reaches the database, the workbench, the live feed or a mirror.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput, RateLimited
from bot.core.conversations.events import Button, InboundEvent, Reply
from bot.core.conversations.models import ChannelIdentity
from bot.core.identity.codes import CodeDelivery, CodeJob, Destination, looks_like_code, parse_destination
from bot.core.identity.models import VerificationChallenge
from bot.core.identity.verification import CodeExpired, Locked, NoActiveCode, WrongCode, check_code, is_fresh, issue_code
from bot.flows.engine import FlowCall, register, register_redactor

STATE = "verify"
START, RESEND, CANCEL = "verify:start", "verify:resend", "verify:cancel"
COMMANDS = ("verify", "验证")
CANCEL_WORDS = ("cancel", "/cancel", "取消")
REDACTED = "••••••"
STALE_AFTER = timedelta(minutes=30)


def _courier(call: FlowCall) -> CodeDelivery | None:
    courier: CodeDelivery | None = call.services.get("verification_courier")
    return courier


def _clear(call: FlowCall) -> None:
    call.set_state(**{STATE: None})


def _cancel_button(call: FlowCall) -> Button:
    return Button(call.text("verify_button_cancel"), CANCEL)


def _until(stamp: datetime) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


async def require_verification(call: FlowCall, *, resume: str) -> list[Reply] | None:
    """For flows that need a recent identity check: None when the customer's is fresh enough, else the
    replies that start one. `resume` is a button payload offered once the check succeeds."""
    if is_fresh(call.customer, call.settings.verification):
        return None
    return [call.reply("verify_needed"), *ask_for_address(call, resume=resume)]


def offered_methods(call: FlowCall) -> list[str]:
    """The ways a code can reach the customer here: only these are offered (email needs SMTP configured)."""
    courier = _courier(call)
    return [kind for kind in ("email", "sms") if courier is not None and courier.available(kind)]


def ask_for_address(call: FlowCall, *, resume: str | None = None) -> list[Reply]:
    methods = offered_methods(call)
    if not methods:
        _clear(call)
        return [call.reply("verify_unavailable", kind="", others=[])]
    call.set_state(**{STATE: {"step": "address", "since": now().isoformat(), "resume": resume}})
    return [call.reply("verify_ask_address", buttons=(_cancel_button(call),), methods=methods)]


def _verify_state(call: FlowCall) -> dict[str, Any] | None:
    state = call.state.get(STATE)
    if not isinstance(state, dict):
        return None
    if now() - datetime.fromisoformat(state["since"]) > STALE_AFTER:
        _clear(call)
        return None
    return state


@register_redactor
def _hide_codes(identity: ChannelIdentity, event: InboundEvent) -> str | None:
    """While a code is awaited, what looks like one is stored as dots: not in the thread, previews, fan-out or backups."""
    state = (identity.flow_state or {}).get(STATE)
    if event.kind == "text" and isinstance(state, dict) and state.get("step") == "code" and looks_like_code(event.text):
        return REDACTED
    return None


@register("verify")
async def verify(call: FlowCall) -> list[Reply] | None:
    event = call.event
    state = _verify_state(call)
    if event.kind == "button" and event.payload.startswith("verify:"):
        return await _on_button(call, event.payload, state)
    if call.command in COMMANDS and _is_verify_command(call):
        argument = _argument(call)
        resume = state.get("resume") if state else None
        return await send_code(call, argument, resume=resume) if argument else ask_for_address(call, resume=resume)
    if state is None or event.kind != "text":
        return None
    text = event.text.strip()
    if text.lower() in CANCEL_WORDS:
        _clear(call)
        return [call.reply("verify_cancelled")]
    if state["step"] == "address":
        return await send_code(call, text, resume=state.get("resume"))
    if state["step"] == "code" and looks_like_code(text):
        return await enter_code(call, text, state)
    return None  # ordinary chat while a code is pending goes to the agents as usual


def _is_verify_command(call: FlowCall) -> bool:
    if call.event.kind == "command":
        return True
    words = call.event.text.strip().split()
    return len(words) == 1 or words[0].startswith("/")


def _argument(call: FlowCall) -> str:
    if call.event.kind == "command":
        return call.event.payload.strip()
    parts = call.event.text.strip().split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


async def _on_button(call: FlowCall, payload: str, state: dict[str, Any] | None) -> list[Reply] | None:
    if payload == START:
        return ask_for_address(call, resume=state.get("resume") if state else None)
    if payload == CANCEL:
        _clear(call)
        return [call.reply("verify_cancelled")]
    if payload == RESEND:
        challenge_id = state.get("challenge") if state else None
        challenge = await call.session.get(VerificationChallenge, challenge_id) if challenge_id else None
        if challenge is None or challenge.identity_id != call.identity.id:
            return ask_for_address(call, resume=state.get("resume") if state else None)
        destination = Destination("email" if challenge.kind == "email" else "sms", challenge.destination)
        return await _issue(call, destination, resume=state.get("resume") if state else None)
    return None


async def send_code(call: FlowCall, text: str, *, resume: str | None) -> list[Reply]:
    try:
        destination = parse_destination(text)
    except InvalidInput:
        call.set_state(**{STATE: {"step": "address", "since": now().isoformat(), "resume": resume}})
        return [call.reply("verify_bad_address", buttons=(_cancel_button(call),))]
    return await _issue(call, destination, resume=resume)


async def _issue(call: FlowCall, destination: Destination, *, resume: str | None) -> list[Reply]:
    courier = _courier(call)
    if courier is None or not courier.available(destination.kind):
        others = [kind for kind in offered_methods(call) if kind != destination.kind]
        if not others:
            _clear(call)
        return [call.reply("verify_unavailable", kind=destination.kind, others=others)]
    config = call.settings.verification
    try:
        issued = await issue_code(
            session=call.session, config=config, secret_key=call.settings.secret_key, identity=call.identity,
            destination=destination,
        )
    except Locked as exc:
        return [call.reply("verify_locked", until=_until(exc.until))]
    except RateLimited as exc:
        if exc.retry_after > 3600:
            return [call.reply("verify_daily_cap")]
        return [call.reply("verify_too_soon", seconds=int(exc.retry_after) + 1)]
    if issued.deliver:  # withheld (other identities' activity on this address): the same answer, no code
        courier.submit(
            CodeJob(
                challenge_id=issued.challenge.id, org_id=call.org.id, org_name=call.org.brand or call.org.name,
                conversation_id=call.conversation.id, identity_id=call.identity.id, kind=destination.kind,
                address=destination.address, locale=call.locale, minutes=config.code_ttl_minutes, code=issued.code,
            )
        )
    call.set_state(
        **{STATE: {"step": "code", "since": now().isoformat(), "challenge": issued.challenge.id, "resume": resume}}
    )
    buttons = (Button(call.text("verify_button_resend"), RESEND), _cancel_button(call))
    return [call.reply("verify_code_sent", buttons=buttons, masked=destination.masked, minutes=config.code_ttl_minutes)]


async def enter_code(call: FlowCall, text: str, state: dict[str, Any]) -> list[Reply]:
    settings = call.settings
    try:
        verified = await check_code(
            session=call.session, config=settings.verification, secret_key=settings.secret_key, identity=call.identity,
            code_text=text, settings=settings,
        )
    except InvalidInput:
        return [call.reply("verify_bad_code_format")]
    except Locked as exc:
        return [call.reply("verify_locked", until=_until(exc.until))]
    except NoActiveCode:
        _clear(call)
        return [call.reply("verify_no_code")]
    except CodeExpired:
        return [call.reply("verify_expired", buttons=(Button(call.text("verify_button_resend"), RESEND), _cancel_button(call)))]
    except WrongCode as exc:
        return [call.reply("verify_wrong_code", remaining=exc.remaining)]
    _clear(call)
    call.customer = verified.customer  # the identity may now belong to the customer who owned the address
    resume = state.get("resume")
    buttons = (Button(call.text("verify_button_continue"), resume),) if resume else ()
    return [call.reply("verify_done", buttons=buttons, method=verified.challenge.kind)]
