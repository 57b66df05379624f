"""One-time code primitives: addresses, the code's shape, its HMAC, and the delivery job handed to the courier."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

from bot.core.common.errors import InvalidInput

Kind = Literal["email", "sms"]
# How a customer can be verified: a code by email or by SMS (a challenge's kind; the customer's verification_method).
METHODS: tuple[str, ...] = get_args(Kind)
CODE_DIGITS = 6
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164
_PHONE_NOISE = re.compile(r"[\s\-().]")
_CODE_NOISE = re.compile(r"[\s\-]")


@dataclass(frozen=True)
class CodeJob:
    """A code waiting to be delivered once its challenge is committed (repr hides the code)."""

    challenge_id: int
    org_id: int
    org_name: str
    conversation_id: int
    identity_id: int
    kind: str
    address: str
    locale: str
    minutes: int
    code: str = field(repr=False)


class CodeDelivery(Protocol):
    """The code courier, as flows see it (ctx.services["verification_courier"])."""

    def available(self, kind: str) -> bool: ...

    def submit(self, job: CodeJob) -> None: ...


@dataclass(frozen=True)
class Destination:
    kind: Kind
    address: str

    @property
    def masked(self) -> str:
        if self.kind == "email":
            local, _, domain = self.address.partition("@")
            return f"{local[:1]}***@{domain}"
        return f"{self.address[:3]}****{self.address[-2:]}"


def parse_destination(text: str) -> Destination:
    """An email address or an international phone number; a clear InvalidInput otherwise (and no code is sent)."""
    value = text.strip()
    if "@" in value:
        if len(value) > 254 or not _EMAIL.match(value):
            raise InvalidInput("that is not a valid email address")
        return Destination("email", value.lower())
    phone = _PHONE_NOISE.sub("", value)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if not _PHONE.match(phone):
        raise InvalidInput("that is not a valid phone number; include the country code, e.g. +8613800000000")
    return Destination("sms", phone)


def looks_like_code(text: str) -> bool:
    """Digits with optional spaces or dashes: an attempt at a code (possibly of the wrong length)."""
    stripped = _CODE_NOISE.sub("", unicodedata.normalize("NFKC", text))
    return bool(stripped) and stripped.isascii() and stripped.isdigit() and len(stripped) <= 12


def normalize_code(text: str) -> str:
    """`123 456`, `123-456` and full-width digits are read as `123456`; anything but six digits is refused unchecked."""
    code = _CODE_NOISE.sub("", unicodedata.normalize("NFKC", text))
    if len(code) != CODE_DIGITS or not (code.isascii() and code.isdigit()):
        raise InvalidInput("the code has %(digits)s digits", digits=CODE_DIGITS)
    return code


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_digest(secret_key: str, challenge_id: int, code: str) -> str:
    # A purpose-specific key, and the challenge id in the message, so one code's HMAC says nothing about another's.
    key = hmac.new(secret_key.encode(), b"incs-verification-code", hashlib.sha256).digest()
    return hmac.new(key, f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()
