"""Normalized inbound events and outbound replies, shared by every channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["text", "file", "photo", "location", "button", "command"]


@dataclass(frozen=True)
class IncomingFile:
    """A file already saved to attachment storage by the channel adapter."""

    attachment_id: int
    filename: str
    mime_type: str
    size: int


@dataclass(frozen=True)
class InboundEvent:
    """What a customer did, whatever the channel.

    `channel` + `external_id` name the channel identity (a Telegram chat id, a Slack user id,
    a web chat visitor id). `platform_message_id` deduplicates platform retries.
    """

    org_id: int
    channel: str
    external_id: str
    kind: EventKind
    text: str = ""
    payload: str = ""  # button payload or command argument
    file: IncomingFile | None = None
    latitude: float | None = None
    longitude: float | None = None
    platform_message_id: str | None = None
    display_name: str = ""
    locale: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True)
class Reply:
    """What the bot says back; rendered per channel by the adapter's sender."""

    text: str
    buttons: tuple[Button, ...] = ()
    attachment_id: int | None = None
    kind: Literal["text", "brand_card", "notice"] = "text"
    data: dict[str, Any] = field(default_factory=dict)
