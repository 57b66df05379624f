"""Telegram's send limits: a timetable of slots overall, token buckets per chat and per group.

A caller reserves a slot and learns how long to wait for it; reserving keeps concurrent senders
from all taking the same free slot. Waits longer than the caller accepts are not reserved, so the
item can go back to the outbox instead of blocking the dispatcher's round.

Overall, time is cut into slots of 1/rate_global seconds and each send takes a free one: a send that
must wait for its chat (1/s) takes a slot a second ahead without blocking the slots in between, which
other chats use meanwhile. (A token bucket cannot: reserving ahead moves its clock past the free slots.)

A reservation is a plan; a busy event loop wakes a sleeper late, and late sends bunch up. So, right before
the call, `settle` checks the sends as they actually went: never more than 30 in any second overall (a
late send may be caught up on within that), never two to a chat without a burst allowance closer than 1/rate.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import TelegramConfig

JITTER = 0.02  # seconds between a send leaving here and arriving there, kept free at the window's edge


@dataclass
class Bucket:
    rate: float  # tokens per second
    burst: float
    tokens: float
    stamp: float

    def available_at(self, at: float) -> float:
        """When one token will be available, given the bucket as it is at `at`."""
        tokens = min(self.burst, self.tokens + (at - self.stamp) * self.rate)
        return at if tokens >= 1 else at + (1 - tokens) / self.rate

    def take(self, at: float) -> None:
        """Spend one token at time `at` (may lie in the future: a reservation)."""
        tokens = min(self.burst, self.tokens + (at - self.stamp) * self.rate) if at >= self.stamp else self.tokens
        self.tokens = tokens - 1
        self.stamp = max(at, self.stamp)


class Timetable:
    """Slots of 1/rate seconds; each holds one send."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.taken: set[int] = set()

    def first_free(self, at: float) -> float:
        slot = math.ceil(at * self.rate - 1e-9)
        while slot in self.taken:
            slot += 1
        return slot / self.rate

    def take(self, at: float, now: float) -> None:
        self.taken.add(round(at * self.rate))
        if len(self.taken) > 4096:  # forget the past
            current = math.floor(now * self.rate)
            self.taken = {s for s in self.taken if s >= current}

    def free_within(self, now: float, seconds: float) -> int:
        first, last = math.ceil(now * self.rate - 1e-9), math.floor((now + seconds) * self.rate)
        return max(0, last - first + 1 - sum(1 for s in self.taken if first <= s <= last))


class SendLimiter:
    def __init__(self, config: TelegramConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.overall = Timetable(config.rate_global)
        self.chats: dict[str, Bucket] = {}
        self.blocked_until: dict[str, float] = {}
        # Actual sends: overall at most rate_global * window within any window (30 in any second: the next send
        # waits until the 30th before it is a second old), so a send that left late does not hold back the ones
        # after it, and a catch-up after a late wake-up never makes a second hold more; per chat without a
        # burst, one per 1/rate.
        self.window = max(1.0, 1 / config.rate_global)
        self.recent: deque[float] = deque(maxlen=max(1, round(config.rate_global * self.window)))
        # A process that starts does not know what the one before it (a restart, a deploy) sent in its last
        # second: it counts that second as used, so its first send waits one window, not a 429 from Telegram.
        self.recent.extend([clock()] * (self.recent.maxlen or 0))
        self.last_sent: dict[str, float] = {}

    def _chat(self, chat: str, now: float) -> Bucket:
        bucket = self.chats.get(chat)
        if bucket is None:
            c = self.config
            bucket = Bucket(c.rate_per_chat, c.chat_burst, float(c.chat_burst), now)
            if chat.startswith("-"):  # groups and supergroups: the slower per-minute limit
                per_second = min(c.rate_per_chat, c.group_per_minute / 60)
                bucket = Bucket(
                    per_second, min(c.chat_burst, c.group_per_minute), float(min(c.chat_burst, c.group_per_minute)), now
                )
            self.chats[chat] = bucket
            if len(self.chats) > 50_000:  # forget idle chats; a fresh bucket is at most one burst generous
                for key in list(self.chats)[:25_000]:
                    del self.chats[key]
        return bucket

    def _earliest(self, chat: str, now: float) -> float:
        bucket = self._chat(chat, now)
        return self.overall.first_free(max(now, self.blocked_until.get(chat, 0.0), bucket.available_at(now)))

    def reserve(self, chat: str, max_wait: float) -> float | None:
        """Seconds to wait before sending to `chat`, with the slot reserved; None if that exceeds max_wait."""
        now = self.clock()
        at = self._earliest(chat, now)
        if at - now > max_wait:
            return None
        self.overall.take(at, now)
        self._chat(chat, now).take(at)
        return max(at - now, 0.0)

    def free_slots(self, seconds: float) -> int:
        """Overall slots not yet reserved within the next `seconds`."""
        return self.overall.free_within(self.clock(), seconds)

    def settle(self, chat: str) -> float:
        """Seconds still to wait before sending now, judged by the actual previous sends (0: go)."""
        now = self.clock()
        waits = [self.recent[-1] + 0.5 / self.config.rate_global - now if self.recent else 0.0]  # catch up at 2x, no faster
        if len(self.recent) == self.recent.maxlen:  # the window's worth of sends already within the window
            waits.append(self.recent[0] + self.window - now)
        bucket = self.chats.get(chat)
        if bucket is not None and bucket.burst <= 1:
            waits.append(self.last_sent.get(chat, -math.inf) + 1 / bucket.rate + JITTER - now)
        return max(waits)

    def mark(self, chat: str) -> None:
        """A send leaves now."""
        now = self.clock()
        self.recent.append(now)
        bucket = self.chats.get(chat)
        if bucket is not None and bucket.burst <= 1:
            self.last_sent[chat] = now
            if len(self.last_sent) > 50_000:
                for key in list(self.last_sent)[:25_000]:
                    del self.last_sent[key]

    def wait_hint(self, chat: str) -> float:
        now = self.clock()
        return max(self._earliest(chat, now) - now, 0.0)

    def block(self, chat: str, seconds: float) -> None:
        """Telegram said 429 with retry_after: nothing to this chat until then."""
        self.blocked_until[chat] = max(self.blocked_until.get(chat, 0.0), self.clock() + seconds)
