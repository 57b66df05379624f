"""The one interface every outbound channel implements, and the outcomes it may report."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol

# True while a sender handles an item that no earlier claim handed to a sender, so nothing of it can have reached
# the platform: a sender that journals partial deliveries need not look its journal up.
FIRST_TRY: ContextVar[bool] = ContextVar("outbox_first_try", default=False)


class DeliveryError(Exception):
    """Base class for failed deliveries."""


class RetryLater(DeliveryError):
    """Transient: 429, 5xx, network. The outbox retries after `retry_after` or its backoff."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Paced(RetryLater):
    """Not a failure: our own limiter, or the platform's flood control (429 with retry_after), says "not before
    `retry_after` seconds". The outbox reschedules the item to then without counting an attempt."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason, max(float(retry_after), 0.0))
        self.retry_after: float = max(float(retry_after), 0.0)


class PermanentFailure(DeliveryError):
    """The platform refused for good (bad request). The item is marked failed."""


class TargetUnreachable(PermanentFailure):
    """The customer blocked the bot or left; the identity is marked unreachable."""


class Sender(Protocol):
    """Delivers one outbox payload to one target. Returns the platform message id, if any.

    `payload` is the JSON stored in the outbox: {"text", "buttons": [[label, payload]...],
    "attachment_id", "kind", "data", "message_id"}.
    """

    channel: str

    async def send(self, target: str, payload: dict[str, Any]) -> str | None: ...


class PacedSender(Protocol):
    """Optional: a sender with a known send rate tells the outbox how many items it can take at once, so a
    backlog waits in `pending` instead of being claimed again and again. `claim_limit(lease_seconds)` is the
    number of items it can send before a lease of that length runs out."""

    channel: str

    def claim_limit(self, lease_seconds: float) -> int: ...
