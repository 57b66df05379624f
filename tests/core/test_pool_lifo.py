"""PostgreSQL's pool hands out the connection returned last: the busy paths keep to a few warm connections (their
prepared statements and PostgreSQL's caches) while the rest idle. First-in-first-out rotated every statement
through every pooled connection, each preparing it again (README "PostgreSQL tuning")."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.core.storage.db import create_engine
from tests.conftest import BACKENDS


@pytest.mark.parametrize("db_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
async def test_the_connection_returned_last_is_handed_out_first(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        first, second = await engine.connect(), await engine.connect()
        pids = [await conn.scalar(text("SELECT pg_backend_pid()")) for conn in (first, second)]
        await second.close()
        await first.close()  # returned last
        async with engine.connect() as again:
            assert await again.scalar(text("SELECT pg_backend_pid()")) == pids[0]
    finally:
        await engine.dispose()
