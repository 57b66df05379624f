"""Secrets at rest: small values (agents' TOTP secrets) sealed with AES-256-GCM under a key derived from the
server's `secret_key`.

Guarantees: a sealed value reads `v1:<base64url(nonce | ciphertext | tag)>`, so the stored column never holds
the secret itself; each value has its own random 96-bit nonce and is bound to its purpose and its row (the
associated data), so a sealed value copied to another row or another use does not open. The key is HKDF-SHA256
of `secret_key` with a purpose label, never the signing key itself. A value without the prefix is a legacy
plaintext: `open_value` returns it with `legacy=True` so the caller rewrites it sealed. A value sealed under
another `secret_key` (or tampered with) raises `Unreadable`; it is never logged.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "v1:"
_NONCE = 12


class Unreadable(Exception):
    """A sealed value that this server's key does not open (the key changed, or the value was altered)."""


@dataclass(frozen=True)
class Opened:
    value: str
    legacy: bool  # stored in plaintext by an older version: seal it again


def _cipher(secret_key: str, purpose: str) -> AESGCM:
    if not secret_key:
        raise ValueError("sealing needs the server's secret_key")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"incs-sealed:{purpose}".encode()).derive(
        secret_key.encode())
    return AESGCM(key)


def seal(*, secret_key: str, purpose: str, bound_to: str, value: str) -> str:
    nonce = os.urandom(_NONCE)
    box = _cipher(secret_key, purpose).encrypt(nonce, value.encode(), bound_to.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + box).decode()


def open_value(*, secret_key: str, purpose: str, bound_to: str, stored: str) -> Opened:
    if not stored.startswith(PREFIX):
        return Opened(stored, legacy=True)
    try:
        raw = base64.urlsafe_b64decode(stored[len(PREFIX):].encode())
        plain = _cipher(secret_key, purpose).decrypt(raw[:_NONCE], raw[_NONCE:], bound_to.encode())
    except (InvalidTag, ValueError) as exc:
        raise Unreadable(purpose) from exc
    return Opened(plain.decode(), legacy=False)


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)
