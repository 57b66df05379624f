"""The one interface every outbound channel implements, and the outcomes it may report."""

from __future__ import annotations

from typing import Any, Protocol


class DeliveryError(Exception):
    """Base class for failed deliveries."""


class RetryLater(DeliveryError):
    """Transient: 429, 5xx, network. The outbox retries after `retry_after` or its backoff."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


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
