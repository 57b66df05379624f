"""Admin pushes to a linked Telegram chat: Bot API sendMessage, on outbox channel `telegram-push`.

Kept apart from the customer-facing Telegram adapter so pushes work whatever that adapter does.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from bot.core.delivery.senders import Paced, PermanentFailure, RetryLater, TargetUnreachable

MIN_INTERVAL = 1.0  # Telegram allows about one message per second per chat


class TelegramPushSender:
    channel = "telegram-push"

    def __init__(self, api_base: str, token: str, timeout: float = 10.0) -> None:
        self._url = f"{api_base.rstrip('/')}/bot{token}/sendMessage"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._last: dict[str, float] = {}

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        wait = self._last.get(target, 0.0) + MIN_INTERVAL - time.monotonic()
        if wait > 0:
            raise Paced("per-chat pacing", wait)
        body = {"chat_id": target, "text": str(payload.get("text", ""))[:4096], "disable_web_page_preview": True}
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as http, http.post(self._url, json=body) as resp:
                status = resp.status
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # The URL holds the token: report the error type only.
            raise RetryLater(f"telegram unavailable: {type(exc).__name__}") from None
        self._last[target] = time.monotonic()
        if status == 200 and isinstance(data, dict) and data.get("ok"):
            return str(data.get("result", {}).get("message_id", "")) or None
        description = str(data.get("description", "")) if isinstance(data, dict) else ""
        if status == 429:
            retry_after = (data.get("parameters") or {}).get("retry_after", 1) if isinstance(data, dict) else 1
            raise Paced("telegram 429", float(retry_after))
        if status >= 500:
            raise RetryLater(f"telegram {status}")
        if status == 403:
            raise TargetUnreachable(f"telegram 403: {description[:100]}")
        raise PermanentFailure(f"telegram {status}: {description[:100]}")
