"""Telegram's send limits as token buckets: per chat, per group, overall.

A caller reserves a slot and learns how long to wait for it; reserving keeps concurrent senders
from all taking the same free slot. Waits longer than the caller accepts are not reserved, so the
item can go back to the outbox instead of blocking the dispatcher's round.

A reservation is a plan; a busy event loop wakes a sleeper late, and late sends bunch up. So, right before
the call, `settle` checks the sends as they actually went: two sends overall, or two to a chat without a
burst allowance, never go closer together than the rate allows (30/s overall: at most 30 in any second).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import TelegramConfig


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


class SendLimiter:
    def __init__(self, config: TelegramConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        start = clock()
        # No burst overall: a full bucket of rate_global on top of the refill would allow twice the rate within
        # one second, and Telegram counts per second.
        self.overall = Bucket(config.rate_global, 1.0, 1.0, start)
        self.chats: dict[str, Bucket] = {}
        self.blocked_until: dict[str, float] = {}
        self.last_sent: dict[str, float] = {}  # actual send times: "" overall, else per chat

    def _chat(self, chat: str, now: float) -> list[Bucket]:
        buckets = [self.overall]
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
        buckets.append(bucket)
        return buckets

    def reserve(self, chat: str, max_wait: float) -> float | None:
        """Seconds to wait before sending to `chat`, with the slot reserved; None if that exceeds max_wait."""
        now = self.clock()
        buckets = self._chat(chat, now)
        at = max([now, self.blocked_until.get(chat, 0.0)] + [b.available_at(now) for b in buckets])
        if at - now > max_wait:
            return None
        for bucket in buckets:
            bucket.take(at)
        return at - now

    def settle(self, chat: str) -> float:
        """Seconds still to wait before sending now, judged by the actual previous sends (0: go)."""
        now = self.clock()
        waits = [self.last_sent.get("", float("-inf")) + 1 / self.config.rate_global - now]
        bucket = self.chats.get(chat)
        if bucket is not None and bucket.burst <= 1:
            waits.append(self.last_sent.get(chat, float("-inf")) + 1 / bucket.rate - now)
        return max(0.0, *waits)

    def mark(self, chat: str) -> None:
        """A send leaves now."""
        now = self.clock()
        self.last_sent[""] = now
        bucket = self.chats.get(chat)
        if bucket is not None and bucket.burst <= 1:
            self.last_sent[chat] = now
            if len(self.last_sent) > 50_000:
                for key in [k for k in list(self.last_sent)[:25_000] if k]:
                    del self.last_sent[key]

    def wait_hint(self, chat: str) -> float:
        now = self.clock()
        buckets = self._chat(chat, now)
        return max([self.blocked_until.get(chat, 0.0) - now] + [b.available_at(now) - now for b in buckets])

    def block(self, chat: str, seconds: float) -> None:
        """Telegram said 429 with retry_after: nothing to this chat until then."""
        self.blocked_until[chat] = max(self.blocked_until.get(chat, 0.0), self.clock() + seconds)
