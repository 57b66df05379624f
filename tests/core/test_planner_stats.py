"""PostgreSQL with autovacuum off: the app analyzes its tables by autovacuum's own rule (bot/core/storage/planner_stats.py).

The suite's PostgreSQL may run either way (this machine's runs with autovacuum off, as CI's does); each test checks
what the sweep must do with the server it has."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from sqlalchemy import text

from bot.core.storage.db import create_engine
from bot.core.storage.planner_stats import PlannerStats
from tests.conftest import Server
from tests.utils.db import PG_URL, postgres_db

PROBE = "planner_stats_probe"


async def _stats(conn: Any) -> tuple[int, float]:
    row = (await conn.execute(text(
        "SELECT s.analyze_count, c.reltuples FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
        "WHERE s.relname = :name AND s.schemaname = current_schema()"), {"name": PROBE})).one()
    return int(row[0]), float(row[1])


async def _insert(conn: Any, first: int, last: int, changed: int) -> None:
    """Rows first..last, then waits until the statistics count `changed` rows since the last analysis: a backend
    reports its counts when it goes idle, at most once a second unless asked (pg_stat_force_next_flush)."""
    rows = text(f"INSERT INTO {PROBE} SELECT generate_series(CAST(:first AS integer), CAST(:last AS integer))")
    await conn.execute(rows, {"first": first, "last": last})
    await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    await conn.commit()
    deadline = time.monotonic() + 15
    while True:
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        mods = await conn.scalar(text("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = :name "
                                      "AND schemaname = current_schema()"), {"name": PROBE})
        await conn.commit()
        if mods is not None and int(mods) >= changed:
            return
        assert time.monotonic() < deadline, f"{PROBE}: the statistics did not count {changed} changed rows"
        await asyncio.sleep(0.01)


@pytest.mark.skipif(not PG_URL, reason="needs INCS_TEST_DATABASE_URL (PostgreSQL; .ci/run sets it)")
async def test_a_table_past_autovacuum_s_rule_is_analyzed_once_and_not_again_until_it_changes_enough(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = await postgres_db()
    engine = create_engine(url)
    sweep = PlannerStats(engine)
    try:
        async with engine.connect() as conn:
            autovacuum = bool(await conn.scalar(text("SELECT current_setting('autovacuum')::boolean")))
            await conn.execute(text(f"DROP TABLE IF EXISTS {PROBE}"))
            await conn.execute(text(f"CREATE TABLE {PROBE} (id integer PRIMARY KEY)"))
            await conn.commit()
            await _insert(conn, 1, 500, 500)
            with caplog.at_level(logging.DEBUG, logger="bot.core.storage.planner_stats"):
                analyzed = await sweep.run()
            if autovacuum:  # PostgreSQL's own daemon keeps them: the sweep leaves it alone
                assert analyzed == [] and "autovacuum is off" not in caplog.text
                return
            assert PROBE in analyzed
            assert await _stats(conn) == (1, 500.0)  # the planner now knows its 500 rows (it had never been analyzed)
            assert caplog.text.count("autovacuum is off") == 1

            await _insert(conn, 501, 540, 40)  # 40 changed rows: not past 50 + 10 % of 500
            assert PROBE not in await sweep.run()
            assert (await _stats(conn))[0] == 1

            await _insert(conn, 541, 660, 160)  # 160 changed rows: past 100
            assert PROBE in await sweep.run()
            assert await _stats(conn) == (2, 660.0)
            assert caplog.text.count("autovacuum is off") == 1  # told once a process
    finally:
        async with engine.connect() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {PROBE}"))
            await conn.commit()
        await engine.dispose()


async def test_the_server_sweeps_planner_statistics_on_postgresql_only(server: Server) -> None:
    jobs = server.ctx.services["scheduler"].job_names
    assert ("storage.planner_stats" in jobs) is (server.ctx.engine.dialect.name == "postgresql")
