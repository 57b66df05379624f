"""Migrations and models agree: a migrated database has exactly the tables and columns the models declare."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
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


async def test_0820_folds_names_and_seals_plaintext_totp_secrets(tmp_path: Path) -> None:
    """Rows written before 0820: a duplicate name an old race let in keeps its name under a distinct key, and a
    plaintext TOTP secret is sealed by the upgrade when it is given the server's secret_key."""
    from bot.core.orgs.totp import PURPOSE
    from bot.core.security.sealed import open_value
    from bot.migrate import upgrade_async

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade_async(url, "0700")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for slug, name in (("acme", "Acme"), ("acme-2", "ACME"), ("beta", "Beta  Ltd")):
                await conn.execute(sa.text(
                    "INSERT INTO organizations (slug, name, brand, profile, website, location, industry, certification_state,"
                    " require_admin_totp, services, created_at) VALUES (:slug, :name, '', '', '', '', '', 'none', 0, '{}',"
                    " '2026-01-01')"), {"slug": slug, "name": name})
            await conn.execute(sa.text(
                "INSERT INTO agents (org_id, email, name, password_hash, role, active, totp_secret, totp_last_step, created_at)"
                " VALUES (1, 'a@acme.example.com', 'A', 'x', 'main_admin', 1, :secret, 0, '2026-01-01')"), {"secret": SECRET})
        await upgrade_async(url, secret_key=KEY)
        async with engine.connect() as conn:
            keys = (await conn.execute(sa.text("SELECT name, name_key FROM organizations ORDER BY id"))).all()
            stored = await conn.scalar(sa.text("SELECT totp_secret FROM agents"))
    finally:
        await engine.dispose()
    assert keys == [("Acme", "acme"), ("ACME", "acme #2"), ("Beta  Ltd", "beta ltd")]
    assert stored.startswith("v1:") and SECRET not in stored
    assert open_value(secret_key=KEY, purpose=PURPOSE, bound_to="agent:1", stored=stored).value == SECRET


SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
KEY = "migration-test-key-0123456789abcdefghij"


def test_the_files_name_the_same_heads_as_alembic() -> None:
    """`incs run` skips Alembic when the database is at these heads (bot/migrate.py upgrade_if_behind)."""
    from alembic.script import ScriptDirectory

    from bot.migrate import alembic_config, file_heads

    assert file_heads() == set(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_heads())


def test_a_start_on_a_database_at_head_leaves_alembic_unimported(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'incs.db'}"
    probe = (
        "import sys; from bot.migrate import upgrade_if_behind; upgrade_if_behind(sys.argv[1]); "
        "print('alembic' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True, timeout=120)
    assert first.stdout.strip() == "True"  # a new database: migrated
    again = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True, timeout=120)
    assert again.stdout.strip() == "False"  # at head: nothing to do, nothing loaded


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


async def test_0870_takes_the_bots_replies_out_of_the_search_index_and_keeps_it_consistent(tmp_path: Path) -> None:
    """Indexed before 0870, a bot reply is forgotten by the upgrade; after it, the triggers skip bot replies on insert,
    update and delete alike (a contentless index told to forget what it never held would be corrupt)."""
    from bot.core.storage.db import create_engine
    from bot.migrate import upgrade_async

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade_async(url, "0860")
    engine = create_engine(url)  # the app's connections: the triggers' SQL function is there
    insert = sa.text("INSERT INTO messages (id, org_id, conversation_id, direction, author_type, kind, text, delivery_state,"
                     " edited, created_at) VALUES (:id, 1, 1, :direction, :author, 'text', :text, 'received', 0, '2026-12-01')")

    async def matching(conn: Any, word: str) -> list[int]:
        rows = await conn.execute(sa.text("SELECT rowid FROM search_messages WHERE search_messages MATCH :w ORDER BY rowid"), {"w": word})
        return [int(r[0]) for r in rows]

    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # messages without their conversations
            await conn.execute(insert, [
                {"id": 1, "direction": "in", "author": "customer", "text": "please delete my address"},
                {"id": 2, "direction": "out", "author": "bot", "text": "you can export or delete your data"},
                {"id": 3, "direction": "note", "author": "bot", "text": "pre-chat form: export team"},
            ])
            assert await matching(conn, "export") == [2, 3]
            await conn.commit()
        await upgrade_async(url)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            assert await matching(conn, "delete") == [1]
            assert await matching(conn, "export") == [3]  # a note stays
            await conn.execute(insert, [
                {"id": 4, "direction": "out", "author": "bot", "text": "export again"},
                {"id": 5, "direction": "out", "author": "agent", "text": "export done"},
            ])
            assert await matching(conn, "export") == [3, 5]
            await conn.execute(sa.text("UPDATE messages SET text = 'bot words changed' WHERE id IN (2, 4)"))
            await conn.execute(sa.text("UPDATE messages SET text = 'please change my address' WHERE id = 1"))
            await conn.execute(sa.text("DELETE FROM messages WHERE id IN (2, 3)"))
            await conn.execute(sa.text("INSERT INTO search_messages(search_messages) VALUES ('integrity-check')"))
            assert await matching(conn, "delete") == []
            assert await matching(conn, "change") == [1]
            assert await matching(conn, "changed") == []
            assert await matching(conn, "export") == [5]
            await conn.commit()
    finally:
        await engine.dispose()
