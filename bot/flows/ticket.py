"""Work orders from the chat, on every channel: `ticket` (category, description, attachments), `status`, CSAT.

Started by /ticket (Telegram menu), `/support ticket` (Slack), or the word `ticket` / `工单`. Files sent
while the description is awaited are attached. CSAT buttons (`csat:<item>:<id>:<1-5>`) store one rating
per item for its own customer; a comment may follow. Every refusal is a polite reply, never an error.
While the organization has work orders turned off, every ticket or status step is answered with a notice
that they are off (a ticket being written is dropped); ratings of earlier items still count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.core.common.clock import now
from bot.core.common.errors import Conflict, Forbidden, InvalidInput
from bot.core.conversations.events import Button, Reply
from bot.core.orgs.profile import service_on
from bot.core.orgs.switches import WORK_ORDERS, ServiceOff
from bot.core.work_orders.csat import add_csat_comment, record_csat
from bot.core.work_orders.services import (
    check_category,
    check_description,
    customer_work_orders,
    open_work_order,
)
from bot.flows.engine import FlowCall, register

STATE, CSAT_STATE = "ticket", "csat_comment"
TICKET_WORDS, STATUS_WORDS = ("ticket", "工单"), ("status", "状态")
CANCEL, SKIP = "ticket:cancel", "csat:skip"
CANCEL_WORDS = ("cancel", "/cancel", "取消")
STALE_AFTER = timedelta(minutes=30)
MAX_FILES = 10
MAX_ID = 2**62  # a larger number is nobody's id (and would overflow the database's integer)


def _state(call: FlowCall, name: str) -> dict[str, Any] | None:
    state = call.state.get(name)
    if not isinstance(state, dict):
        return None
    if now() - datetime.fromisoformat(state["since"]) > STALE_AFTER:
        call.set_state(**{name: None})
        return None
    return state


def _category_buttons(call: FlowCall) -> tuple[Button, ...]:
    return (*(Button(call.text("ticket_category", category=c), f"ticket:cat:{c}") for c in call.settings.sla.categories),
            Button(call.text("ticket_button_cancel"), CANCEL))


def _ask_category(call: FlowCall, name: str = "ticket_choose_category") -> list[Reply]:
    call.set_state(**{STATE: {"step": "category", "since": now().isoformat(), "files": []}})
    return [call.reply(name, buttons=_category_buttons(call))]


@register("ticket")
async def ticket(call: FlowCall) -> list[Reply] | None:
    event, state = call.event, _state(call, STATE)
    ours = (event.kind == "button" and event.payload.startswith("ticket:")) or call.command in (*TICKET_WORDS, *STATUS_WORDS)
    if (ours or state is not None) and not service_on(call.org, WORK_ORDERS):
        return _off(call)
    if event.kind == "button" and event.payload.startswith("ticket:"):
        return await _on_button(call, event.payload, state)
    if event.kind == "button" and event.payload.startswith("csat:"):
        return await _on_csat(call, event.payload)
    if call.command in TICKET_WORDS:
        return _ask_category(call)
    if call.command in STATUS_WORDS:
        return await _status(call)
    if state is not None:
        return await _in_ticket(call, state)
    comment = _state(call, CSAT_STATE)
    if comment is not None and event.kind == "text":
        return await _comment(call, comment)
    return None


def _off(call: FlowCall) -> list[Reply]:
    call.set_state(**{STATE: None})
    return [call.reply("work_orders_off")]


async def _on_button(call: FlowCall, payload: str, state: dict[str, Any] | None) -> list[Reply]:
    if payload == CANCEL:
        call.set_state(**{STATE: None})
        return [call.reply("ticket_cancelled")]
    category = payload.removeprefix("ticket:cat:")
    try:
        check_category(call.settings, category)
    except InvalidInput:
        return _ask_category(call, "ticket_unknown_category")
    files = state.get("files", []) if state else []
    call.set_state(**{STATE: {"step": "description", "since": now().isoformat(), "category": category, "files": files}})
    return [call.reply("ticket_describe", buttons=(Button(call.text("ticket_button_cancel"), CANCEL),))]


async def _in_ticket(call: FlowCall, state: dict[str, Any]) -> list[Reply] | None:
    event = call.event
    if event.kind == "text" and event.text.strip().lower() in CANCEL_WORDS:
        call.set_state(**{STATE: None})
        return [call.reply("ticket_cancelled")]
    if event.file is not None:
        files = [*state.get("files", []), event.file.attachment_id][:MAX_FILES]
        call.set_state(**{STATE: {**state, "files": files}})
        return [call.reply("ticket_file_added", count=len(files))]
    if event.kind != "text":
        return None
    if state["step"] == "category":
        try:
            check_category(call.settings, event.text.strip().lower())
        except InvalidInput:
            return _ask_category(call, "ticket_unknown_category")
        return await _on_button(call, f"ticket:cat:{event.text.strip().lower()}", state)
    try:
        description = check_description(event.text)
    except InvalidInput:
        return [call.reply("ticket_empty_description")]
    try:
        order = await open_work_order(
            session=call.session, settings=call.settings, customer=call.customer, category=state["category"],
            description=description, conversation=call.conversation, attachment_ids=state.get("files", []),
        )
    except ServiceOff:
        return _off(call)
    call.set_state(**{STATE: None})
    return [call.reply("ticket_created", label=order.label, category=order.category)]


async def _status(call: FlowCall) -> list[Reply]:
    orders = await customer_work_orders(session=call.session, org_id=call.org.id, customer_id=call.customer.id)
    if not orders:
        return [call.reply("ticket_status_none")]
    return [call.reply("ticket_status_list", orders=orders)]


async def _on_csat(call: FlowCall, payload: str) -> list[Reply]:
    if payload == SKIP:
        call.set_state(**{CSAT_STATE: None})
        return [call.reply("csat_comment_thanks")]
    try:
        _, subject_type, subject_id, rating = payload.split(":")
        if not 0 < int(subject_id) < MAX_ID:
            raise ValueError(subject_id)
        answer = await record_csat(session=call.session, org_id=call.org.id, customer_id=call.customer.id,
                                   subject_type=subject_type, subject_id=int(subject_id), rating=int(rating))
    except (ValueError, InvalidInput, Forbidden):
        return [call.reply("csat_not_yours")]
    except Conflict:
        return [call.reply("csat_already")]
    call.set_state(**{CSAT_STATE: {"answer": answer.id, "since": now().isoformat()}})
    return [call.reply("csat_thanks", rating=answer.rating, buttons=(Button(call.text("csat_button_skip"), SKIP),))]


async def _comment(call: FlowCall, state: dict[str, Any]) -> list[Reply]:
    call.set_state(**{CSAT_STATE: None})
    try:
        await add_csat_comment(session=call.session, org_id=call.org.id, customer_id=call.customer.id,
                               answer_id=int(state["answer"]), text=call.event.text)
    except (Forbidden, Conflict):
        return [call.reply("csat_already")]
    return [call.reply("csat_comment_thanks")]
