"""The product's flows, loaded in one place: importing this module registers every flow (the engine imports none)."""

from __future__ import annotations

from bot.flows import (
    greeting,  # noqa: F401
    policy_gate,  # noqa: F401
    privacy,  # noqa: F401
    register,  # noqa: F401
    services,  # noqa: F401
    ticket,  # noqa: F401
    verify,  # noqa: F401
)
from bot.flows.engine import Engine


def default_runner() -> Engine:
    """The runner `bot/app.py` hands to the ingest writer, with every flow of the product registered."""
    return Engine()
