"""SMTP delivery of outbox items on channel `email`: target is the address, payload has subject and text."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib

from bot.config import SmtpConfig
from bot.core.delivery.senders import PermanentFailure, RetryLater


class EmailSender:
    channel = "email"

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def build(self, target: str, payload: dict[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = target
        message["Subject"] = str(payload.get("subject", "INCS Support"))
        message["Message-ID"] = make_msgid(domain=self.config.sender.rpartition("@")[2] or "localhost")
        message.set_content(str(payload.get("text", "")))
        if payload.get("html"):
            message.add_alternative(str(payload["html"]), subtype="html")
        return message

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        if not self.config.host:
            raise RetryLater("smtp.host is not configured")
        message = self.build(target, payload)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.config.host,
                port=self.config.port,
                username=self.config.username or None,
                password=self.config.password or None,
                use_tls=self.config.use_tls,
                start_tls=self.config.start_tls or None,
                timeout=self.config.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"recipient refused: {exc.recipients[0].code if exc.recipients else ''}") from None
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"smtp {exc.code}") from None
            raise RetryLater(f"smtp {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise RetryLater(f"smtp unavailable: {type(exc).__name__}") from None
        return str(message["Message-ID"])
