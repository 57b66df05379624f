"""SMS delivery behind one small interface: a provider sends one text to one international number."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("incs.sms")


class SmsError(Exception):
    """The provider did not take the message; the reason never contains the message text."""


class SmsProvider(Protocol):
    name: str

    async def send(self, phone: str, text: str) -> None: ...


class ConsoleSmsProvider:
    """For local runs: the message goes to the log instead of a phone. Refused in production mode,
    where it would write codes to the log."""

    name = "console"

    def __init__(self, *, production: bool) -> None:
        self.production = production

    async def send(self, phone: str, text: str) -> None:
        if self.production:
            raise SmsError("the console SMS provider is for local runs; configure sms.provider: webhook")
        log.warning("console SMS (development only) to %s: %s", phone, text)
