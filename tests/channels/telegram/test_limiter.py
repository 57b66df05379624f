"""The limiter's check of actual sends, on a clock the test moves: never more than 30 in any second, a catch-up
after a late wake-up included, and a new process counts its first second as used (a restart mid-burst)."""

from __future__ import annotations

from bot.channels.telegram.limiter import SendLimiter
from bot.config import TelegramConfig


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _send(limiter: SendLimiter, clock: Clock, chat: str) -> float:
    """Sends as the sender does: wait for the reserved slot, then while settle says so; returns when it left."""
    wait = limiter.reserve(chat, 10.0)
    assert wait is not None
    clock.now += wait
    while (late := limiter.settle(chat)) > 0:
        clock.now += late
    limiter.mark(chat)
    return clock.now


def test_no_second_holds_more_than_30_sends_even_when_catching_up_after_a_stall() -> None:
    clock = Clock()
    limiter = SendLimiter(TelegramConfig(rate_global=30.0, rate_per_chat=1.0, chat_burst=1), clock=clock)
    first = _send(limiter, clock, "0")
    assert first - 100.0 >= 1.0 - 1e-9, "a new process sent before a second had passed"
    stamps = [first]
    for n in range(1, 400):
        if n % 50 == 0:
            clock.now += 0.4  # the event loop was busy: sends leave late, then catch up
        stamps.append(_send(limiter, clock, str(n)))
    worst = max(sum(1 for t in stamps[i:] if t - start < 1.0 - 1e-9) for i, start in enumerate(stamps))
    assert worst <= 30, f"{worst} sends within one second"
    assert stamps[-1] - stamps[0] <= 400 / 30 + 0.4 * 8 + 1, "pacing slower than the stalls explain"
