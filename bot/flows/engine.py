"""The flow engine: routes a stored inbound event to the first flow that takes it.

Flow state lives in ChannelIdentity.flow_state (the database), so a restart or another
instance continues where the user was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from bot.core.conversations.events import Button, InboundEvent, Reply
from bot.core.conversations.models import ChannelIdentity
from bot.core.conversations.turns import Turn
from bot.flows.texts import render_text


@dataclass
class FlowCall(Turn):
    """A turn with the helpers flows use (texts in the customer's locale, flow state, the command word)."""

    @property
    def locale(self) -> str:
        return self.customer.locale or "en"

    def text(self, name: str, **context: Any) -> str:
        return render_text(name, self.locale, org=self.org, customer=self.customer, **context)

    def reply(self, name: str, buttons: tuple[Button, ...] = (), **context: Any) -> Reply:
        return Reply(text=self.text(name, **context), buttons=buttons)

    @property
    def state(self) -> dict[str, Any]:
        return dict(self.identity.flow_state or {})

    def set_state(self, **changes: Any) -> None:
        state = self.state
        for key, value in changes.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        self.identity.flow_state = state  # reassign so the JSON column is marked dirty

    @cached_property
    def command(self) -> str:
        """`help`, `/help`, `/help@bot` -> `help`; empty when the text is not a command word. Read by most flows
        on every turn, worked out once (the event is frozen)."""
        event = self.event
        if event.kind == "command":
            return event.text.lower()
        if event.kind != "text":
            return ""
        word = event.text.strip().split(maxsplit=1)[0].lower() if event.text.strip() else ""
        return word.lstrip("/").split("@", 1)[0]


FlowHandler = Callable[[FlowCall], Awaitable[list[Reply] | None]]
_FLOWS: list[tuple[str, FlowHandler]] = []


# Flows are tried in this order, whatever order their modules happen to be imported in; a flow not named
# here runs after these, in registration order.
FLOW_ORDER = ("service_switch", "policy_gate", "greeting", "consent", "help_and_language", "verify", "privacy", "register")


def register(name: str) -> Callable[[FlowHandler], FlowHandler]:
    """Add a flow; the first flow (in FLOW_ORDER) to return a list handles the event."""

    def wrap(handler: FlowHandler) -> FlowHandler:
        _FLOWS.append((name, handler))
        _FLOWS.sort(key=lambda flow: FLOW_ORDER.index(flow[0]) if flow[0] in FLOW_ORDER else len(FLOW_ORDER))
        return handler

    return wrap


async def run_flows(call: FlowCall, *, after: str | None = None) -> list[Reply]:
    """The replies of the first flow that takes the event; `after` starts with the flow registered after that one."""
    flows = _FLOWS
    if after is not None:
        names = [name for name, _ in _FLOWS]
        flows = _FLOWS[names.index(after) + 1 :]
    for _name, handler in flows:
        replies = await handler(call)
        if replies is not None:
            return replies
    return []



Redactor = Callable[[ChannelIdentity, InboundEvent], str | None]
_REDACTORS: list[Redactor] = []


def register_redactor(redactor: Redactor) -> Redactor:
    """A flow may say that an inbound text must never be stored as typed (a one-time code): the redactor
    returns the text to store instead, or None. It runs before the message is written; flows still see the original."""
    _REDACTORS.append(redactor)
    return redactor


def stored_text(identity: ChannelIdentity, event: InboundEvent) -> str:
    for redactor in _REDACTORS:
        replacement = redactor(identity, event)
        if replacement is not None:
            return replacement
    return event.text


_TURN_FIELDS = tuple(f.name for f in fields(Turn))


class Engine:
    """The flow runner handed to the ingest writer (bot.core.conversations.turns.FlowRunner)."""

    def stored_text(self, identity: ChannelIdentity, event: InboundEvent) -> str:
        return stored_text(identity, event)

    async def run(self, turn: Turn) -> list[Reply]:
        return await run_flows(FlowCall(**{name: getattr(turn, name) for name in _TURN_FIELDS}))
