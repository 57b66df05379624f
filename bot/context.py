"""The running application's parts, built once and passed to whoever needs them (no globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.core.conversations.ingest import Ingestor
from bot.core.conversations.live import Hub
from bot.core.delivery.dispatcher import Dispatcher
from bot.core.storage.db import SessionFactory

Hook = Callable[[], Awaitable[None]]


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    factory: SessionFactory
    hub: Hub
    ingestor: Ingestor
    dispatcher: Dispatcher
    # Channel adapters and other features register start/stop hooks and shared services here.
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    services: dict[str, Any] = field(default_factory=dict)
