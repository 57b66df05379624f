"""Delivery of outbox items on channel `webhook`: POST payload["body"] as JSON to the target URL.

2xx is delivered; 429 and 5xx and network errors are retried by the outbox; other statuses fail for good.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.core.delivery.senders import PermanentFailure, RetryLater


class WebhookSender:
    channel = "webhook"

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as http, http.post(target, json=payload.get("body", {})) as resp:
                if resp.status == 429 or resp.status >= 500:
                    raise RetryLater(f"webhook {resp.status}")
                if resp.status >= 300:
                    raise PermanentFailure(f"webhook {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"webhook unreachable: {type(exc).__name__}") from None
        return None
