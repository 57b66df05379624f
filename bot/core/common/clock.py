"""One clock for the domain: naive UTC datetimes, replaceable in tests (time controlled, not slept)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def _system_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_now: Callable[[], datetime] = _system_now


def now() -> datetime:
    return _now()


def set_clock(func: Callable[[], datetime] | None) -> None:
    """Tests pass a function; None restores the system clock."""
    global _now
    _now = func or _system_now
