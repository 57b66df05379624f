"""One `incs run` process on PostgreSQL against one on SQLite: the web chat pipeline at saturation, in one run.

Both servers run at once (each in its own process, idle while the other is measured); rounds alternate
SQLite, PostgreSQL, SQLite, ... and each figure is min / median / max of 3 with the machine's load. The
PostgreSQL server uses no Redis (one process needs none; bench_scaleout covers Redis). The database named by
BENCH_POSTGRES_URL is emptied first (its public schema is dropped): give it a database of its own. Besides the
server's CPU per message, each round prints the CPU of the PostgreSQL backends connected to that database (read
from /proc every 50 ms: the server must run on this machine), since on a shared machine they compete with ours for
the cores; the WAL writer and other databases' backends are not counted.
Target: PostgreSQL >= 0.8x SQLite.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

from sqlalchemy import make_url

from tests.bench.bench_core import Figures, pipeline, report
from tests.bench.common import PostgresCpu, ServerProcess, load, prepare_db, spread

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


async def main() -> None:
    if not PG_URL:
        print("skipped: set BENCH_POSTGRES_URL (a database of its own, e.g. postgresql+asyncpg://postgres@127.0.0.1/bench)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "sqlite").mkdir()
        (data / "pg").mkdir()
        sqlite_url = f"sqlite+aiosqlite:///{data / 'sqlite' / 'incs.db'}"
        await prepare_db(sqlite_url)
        await prepare_db(PG_URL)
        servers = {"SQLite": ServerProcess(data / "sqlite", sqlite_url), "PostgreSQL": ServerProcess(data / "pg", PG_URL)}
        figures: dict[str, list[Figures]] = {name: [] for name in servers}
        cpu: dict[str, list[float]] = {name: [] for name in servers}
        pg_cpu: dict[str, list[float]] = {name: [] for name in servers}  # our database's backends', per message
        database = make_url(PG_URL).database or ""
        try:
            for server in servers.values():
                await server.wait_ready()
            for round_no in range(1, ROUNDS + 1):
                print(f"  round {round_no}", flush=True)
                for name, server in servers.items():
                    with PostgresCpu(database) as backends:
                        result = await pipeline(server.url, server.pid, quiet=True)
                    cpu[name].append(result.cpu_ms)
                    pg_cpu[name].append(backends.seconds / _messages() * 1000)
                    figures[name].append(result)
                    print(f"    {name}: {result.rate:,.0f} msg/s, p99 {result.p99:.1f} ms, server CPU {cpu[name][-1]:.2f}, "
                          f"PostgreSQL backends' CPU {pg_cpu[name][-1]:.2f} ms/message ({result.load})", flush=True)
        finally:
            for server in servers.values():
                server.stop()
    print(f"web chat pipeline at saturation, one process, {ROUNDS} alternating rounds, min / median / max ({load()}):")
    for name in servers:
        print(report(name, figures[name]) + " (the server's)")
    print(f"PostgreSQL backends' CPU (those connected to {database}) during the PostgreSQL rounds "
          f"{spread(pg_cpu['PostgreSQL'], '{:.2f}')} ms/message")
    ratio = statistics.median(f.rate for f in figures["PostgreSQL"]) / statistics.median(f.rate for f in figures["SQLite"])
    print(f"PostgreSQL / SQLite (medians): {ratio:.2f}x (target >= 0.8x): {'OK' if ratio >= 0.8 else 'MISSED'}")


def _messages() -> int:
    from tests.bench.bench_core import MESSAGES_PER_VISITOR, VISITORS

    return VISITORS * (MESSAGES_PER_VISITOR + 1)  # the measured messages and each visitor's warm-up one
