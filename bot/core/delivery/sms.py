"""SMS delivery behind one small interface: a provider sends one text to one international number."""

from __future__ import annotations

import logging
import sys
from typing import Protocol

log = logging.getLogger("incs.sms")


class SmsError(Exception):
    """The provider did not take the message; the reason never contains the message text."""


class SmsProvider(Protocol):
    name: str

    async def send(self, phone: str, text: str) -> None: ...


class ConsoleSmsProvider:
    """For local runs: the message is printed on the terminal instead of reaching a phone.

    It is written to stdout directly, not through logging, so codes never enter the log stream
    (log files, aggregators, test log capture). Refused in production mode."""

    name = "console"

    def __init__(self, *, production: bool) -> None:
        self.production = production

    async def send(self, phone: str, text: str) -> None:
        if self.production:
            raise SmsError("the console SMS provider is for local runs; configure sms.provider: webhook")
        log.info("console SMS (development only) to %s printed on the terminal", phone)
        print(f"[console SMS to {phone}] {text}", file=sys.stdout, flush=True)
