"""PostgreSQL tuning: outbox claims pass over rows another process is claiming (FOR UPDATE SKIP LOCKED) instead of
waiting for its transaction, and what each claims is its own, once; the database settings reach every connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import ConfigError, load_settings
from bot.core.delivery.outbox import claim_due, enqueue
from bot.core.storage.db import create_engine, session_factory, transaction
from tests.conftest import make_settings, start_server


async def test_a_claim_skips_the_rows_another_claim_holds_instead_of_waiting(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite writers take turns (storage/db.py write_turn)")
    engine = create_engine(db_url)
    factory = session_factory(engine)
    try:
        async with transaction(factory) as session:
            for target in ("100", "200"):
                await enqueue(session=session, channel="telegram", target=target, payload={"text": "hi"}, idempotency_key=f"k{target}")
        async with factory() as first, first.begin():
            held = await claim_due(session=first, lease_seconds=30, limit=1)
            assert [c.target for c in held] == ["100"]
            async with transaction(factory) as second:  # while the first claim is not yet committed
                other = await asyncio.wait_for(claim_due(session=second, lease_seconds=30, limit=10), timeout=5)
            assert [c.target for c in other] == ["200"]
        async with transaction(factory) as third:
            assert await claim_due(session=third, lease_seconds=30, limit=10) == []  # both leased, neither claimed twice
    finally:
        await engine.dispose()


async def test_the_database_settings_reach_postgresql_and_bad_ones_name_their_key(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^database\.synchronous_commit:"):
        load_settings(None, {"INCS_DATA_DIR": str(tmp_path), "INCS_CONFIG": str(tmp_path / "none.yaml"),
                             "INCS_DATABASE__SYNCHRONOUS_COMMIT": "sometimes"})
    if not db_url.startswith("postgresql"):
        return
    server = await start_server(make_settings(db_url, tmp_path, database={"url": db_url, "synchronous_commit": "off"}))
    try:
        async with server.ctx.engine.connect() as conn:
            assert await conn.scalar(text("SHOW synchronous_commit")) == "off"
            cache = (await conn.get_raw_connection()).dbapi_connection._prepared_statement_cache  # type: ignore[union-attr]
            assert cache.capacity == 500
    finally:
        await server.stop()
