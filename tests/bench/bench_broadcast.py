"""Issue 13 benchmark: a major policy broadcast fanned out to 100,000 customers into the outbox (target < 10 s).

`incs run` in its own process on SQLite; this process is the load generator: it signs in as a platform
admin, publishes a major version (which starts the broadcast) and polls the database, read-only, until
the broadcast is done. Measured from the publish request to the last recipient queued. No platform is
involved in queueing (web chat identities), so no fake platform process is needed. Three rounds, each a
new version to the same customers; min / median / max and the machine load are printed.

Two set-ups: "fan-out alone" holds delivery back (a one-hour outbox poll; the dispatcher is woken only when
the fan-out ends), "with delivery" lets the dispatcher drain the queued notices at the same time, sharing
SQLite's one writer. In both, a round starts once the previous round's notices are delivered.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp

from bot.core.orgs.agents import create_agent
from bot.core.orgs.organizations import create_organization
from bot.core.storage.db import create_engine, session_factory, transaction
from bot.migrate import upgrade_async
from tests.bench.common import ServerProcess, connect_sqlite
from tests.utils.factories import PASSWORD, csrf_from

CUSTOMERS = int(os.environ.get("BENCH_BROADCAST_CUSTOMERS", "100000"))
ROUNDS = 3


async def _prepare(db_url: str, path: Path) -> None:
    await upgrade_async(db_url)
    engine = create_engine(db_url)
    async with transaction(session_factory(engine)) as session:
        org = await create_organization(session=session, name="Bench Co", slug="demo")
        await create_agent(session=session, org_id=None, email="platform@bench.example.com", password=PASSWORD,
                           role="platform_admin")
        org_id = org.id
    await engine.dispose()
    stamp = datetime(2026, 11, 1).isoformat(sep=" ")
    with connect_sqlite(path) as db:
        db.executemany(
            "INSERT INTO customers (id, org_id, name, locale, status, first_seen_at, last_seen_at) VALUES (?, ?, '', 'en', 'active', ?, ?)",
            ((i, org_id, stamp, stamp) for i in range(1, CUSTOMERS + 1)))
        db.executemany(
            "INSERT INTO channel_identities (org_id, customer_id, channel, external_id, display_name, reachable, flow_state,"
            " created_at, last_seen_at) VALUES (?, ?, 'webchat', ?, '', 1, '{}', ?, ?)",
            ((org_id, i, f"visitor-{i}", stamp, stamp) for i in range(1, CUSTOMERS + 1)))


def _pending(path: Path) -> int:
    with connect_sqlite(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM outbox WHERE state != 'sent'").fetchone()[0])


def _state(path: Path, version: str) -> tuple[str, int]:
    with connect_sqlite(f"file:{path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT state, total FROM broadcasts WHERE client_key = ?", (f"policy:{version}",)).fetchone()
    return (row[0], row[1]) if row else ("", 0)


async def _round(base: str, path: Path, version: str) -> float:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/workbench/login") as resp:
            token = csrf_from(await resp.text())
        async with http.post(f"{base}/workbench/login", data={"email": "platform@bench.example.com", "password": PASSWORD,
                                                               "csrf_token": token}) as resp:
            csrf = csrf_from(await resp.text())
        began = time.perf_counter()
        async with http.post(f"{base}/workbench/platform/policy", data={
                "version": version, "summary": "bench", "major": "on", "csrf_token": csrf}) as resp:
            assert resp.status == 200, resp.status
    while True:
        state, total = await asyncio.to_thread(_state, path, version)
        if state == "done":
            elapsed = time.perf_counter() - began
            assert total == CUSTOMERS, total
            return elapsed
        await asyncio.sleep(0.05)


async def _drained(path: Path) -> None:
    while True:
        if not await asyncio.to_thread(_pending, path):
            return
        await asyncio.sleep(0.2)


async def _series(label: str, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        path = data_dir / "incs.db"
        db_url = f"sqlite+aiosqlite:///{path}"
        await _prepare(db_url, path)
        server = ServerProcess(data_dir, db_url, {"INCS_NOTIFICATIONS__ENABLED": "false", **env})
        times: list[float] = []
        try:
            await server.wait_ready()
            for n in range(ROUNDS):
                times.append(await _round(server.url, path, f"bench-{n}"))
                await _drained(path)
        finally:
            server.stop()
    load = os.getloadavg()
    print(f"{label}: fan-out of {CUSTOMERS:,} recipients into the outbox (SQLite), {ROUNDS} rounds: "
          f"min {min(times):.2f} s, median {statistics.median(times):.2f} s, max {max(times):.2f} s "
          f"({CUSTOMERS / statistics.median(times):,.0f} recipients/s at the median); target < 10 s")
    print(f"  machine load (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}", flush=True)


async def main() -> None:
    await _series("fan-out alone", {"INCS_OUTBOX__POLL_SECONDS": "3600"})
    await _series("with delivery", {})
