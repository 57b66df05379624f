"""SMS through an HTTP webhook: POST {"to", "text"} as JSON with an auth header; any 2xx means accepted."""

from __future__ import annotations

import aiohttp

from bot.config import SmsConfig
from bot.core.delivery.sms import SmsError


class WebhookSmsProvider:
    name = "webhook"

    def __init__(self, config: SmsConfig) -> None:
        self.config = config

    async def send(self, phone: str, text: str) -> None:
        if not self.config.webhook_url:
            raise SmsError("sms.webhook_url is not configured")
        headers = {self.config.auth_header: self.config.auth_token} if self.config.auth_token else {}
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                self.config.webhook_url, json={"to": phone, "text": text}, headers=headers
            ) as resp:
                if not 200 <= resp.status < 300:
                    raise SmsError(f"sms webhook answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmsError(f"sms webhook unavailable: {type(exc).__name__}") from None
