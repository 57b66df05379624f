"""Domain errors. Each channel and the workbench map them to a reply or status in one place.

An error's text is English and doubles as its message key: the catalogues (translations/<locale>/.../messages.po)
translate `key` and the pages, the chat and JSON answers show it in the reader's language (bot/i18n.py
`error_text`). Values are named parameters, not formatted into the key, so one key serves every value:
`InvalidInput("the message is longer than %(limit)s characters", limit=4000)`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "error"

    def __init__(self, message: str = "", **params: Any) -> None:
        text = message % params if params else message
        super().__init__(text or self.code)
        self.key = message or self.code  # the catalogues' msgid
        self.params = params
        self.message = text or self.code  # English, for logs and for readers without a catalogue


class InvalidInput(DomainError):
    status = 400
    code = "invalid_input"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str = "", retry_after: float = 60.0, **params: Any) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status = 503
    code = "unavailable"
