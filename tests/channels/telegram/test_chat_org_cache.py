"""The chat -> organization cache of the Telegram channel is bounded: the oldest chats are forgotten first."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bot.channels.telegram import inbound


def test_the_chat_organization_cache_keeps_only_the_newest_chats() -> None:
    channel: Any = SimpleNamespace(chat_orgs={})
    for chat in range(inbound.CHAT_ORGS_KEPT + 10):
        inbound.remember_chat_org(channel, chat, 1)
    inbound.remember_chat_org(channel, 10, 2)  # seen again: newest now
    inbound.remember_chat_org(channel, -1, 1)
    assert len(channel.chat_orgs) == inbound.CHAT_ORGS_KEPT
    assert 0 not in channel.chat_orgs and 11 not in channel.chat_orgs  # the oldest went first
    assert channel.chat_orgs[10] == 2 and channel.chat_orgs[-1] == 1
