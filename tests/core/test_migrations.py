"""Migrations and models agree: a migrated database has exactly the tables and columns the models declare."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import bot.all_models  # noqa: F401
from bot.core.search.schema import include_name
from bot.core.storage.base import Base


async def test_migrated_schema_matches_models(db_url: str) -> None:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            opts = {"compare_type": False, "include_name": include_name}  # search indexes are not models
            diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync, opts=opts), Base.metadata))
    finally:
        await engine.dispose()
    assert diffs == [], f"models and migrations differ; write a migration: {diffs}"


def test_migrations_have_one_head() -> None:
    from alembic.script import ScriptDirectory

    from bot.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_heads()
    assert len(heads) == 1, f"merge the migration branches: heads {heads}"


def test_0860_counts_earlier_resolutions_into_agent_histograms(tmp_path: Path) -> None:
    """Per-agent medians need per-agent histograms: the migration counts what was resolved before it."""
    from bot.core.work_orders.rollup import bucket_of
    from bot.migrate import upgrade

    path = tmp_path / "old.db"
    upgrade(f"sqlite+aiosqlite:///{path}", "0700")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO organizations (id, slug, name, brand, profile, website, location, industry,"
                     " certification_state, require_admin_totp, services, created_at) VALUES"
                     " (1, 'demo', 'Demo', '', '', '', '', '', 'none', 0, '{}', '2026-03-02 09:00:00')")
        for number, (agent, seconds) in enumerate([(7, 3600), (7, 7200), (7, 36000), (None, 600)], start=1):
            conn.execute("INSERT INTO work_orders (org_id, number, customer_id, channel, category, description, attachment_ids,"
                         " status, priority, created_at, updated_at, target_minutes, risk_notified, breach_notified, sla_met,"
                         " resolved_week, resolution_seconds, credited_agent_id) VALUES (1, ?, 1, 'webchat', 'billing', 'x',"
                         " '[]', 'resolved', 'normal', '2026-03-02 09:00:00', '2026-03-02 09:00:00', 1440, 1, 1, 1,"
                         " '2026-03-02', ?, ?)", (number, seconds, agent))
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT agent_id, bucket, count, met, total FROM report_counts WHERE agent_id >= 0 AND bucket >= 0"
                            " ORDER BY agent_id, bucket").fetchall()
    assert rows == [(0, bucket_of(600), 1, 1, 600), *[(7, bucket_of(s), 1, 1, s) for s in (3600, 7200, 36000)]]
