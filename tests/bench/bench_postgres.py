"""One `incs run` process on PostgreSQL against one on SQLite: the web chat pipeline at saturation, in one run.

Both servers run at once (each in its own process, idle while the other is measured); rounds alternate
SQLite, PostgreSQL, SQLite, ... and each figure is min / median / max of 3 with the machine's load. The
PostgreSQL server uses no Redis (one process needs none; bench_scaleout covers Redis). The database named by
BENCH_POSTGRES_URL is emptied first (its public schema is dropped): give it a database of its own. Besides the
server's CPU per message, each round prints the PostgreSQL server's own (all its processes, read from /proc: the
server must run on this machine), since on a shared machine its backends compete with ours for the cores.
Target: PostgreSQL >= 0.8x SQLite.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

from tests.bench.bench_core import Figures, pipeline, report
from tests.bench.common import ServerProcess, cpu_seconds, load, postgres_cpu_seconds, prepare_db, spread

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
        pg_cpu: dict[str, list[float]] = {name: [] for name in servers}  # the PostgreSQL server's own, per message
        try:
            for server in servers.values():
                await server.wait_ready()
            for round_no in range(1, ROUNDS + 1):
                print(f"  round {round_no}", flush=True)
                for name, server in servers.items():
                    before, pg_before = cpu_seconds(server.pid), postgres_cpu_seconds()
                    result = await pipeline(server.url, quiet=True)
                    cpu[name].append((cpu_seconds(server.pid) - before) / _messages() * 1000)
                    pg_cpu[name].append((postgres_cpu_seconds() - pg_before) / _messages() * 1000)
                    figures[name].append(result)
                    print(f"    {name}: {result.rate:,.0f} msg/s, p99 {result.p99:.1f} ms, server CPU {cpu[name][-1]:.2f}, "
                          f"PostgreSQL's CPU {pg_cpu[name][-1]:.2f} ms/message ({result.load})", flush=True)
        finally:
            for server in servers.values():
                server.stop()
    print(f"web chat pipeline at saturation, one process, {ROUNDS} alternating rounds, min / median / max ({load()}):")
    for name in servers:
        print(report(name, figures[name]) + f"   server CPU {spread(cpu[name], '{:.2f}')} ms/message")
    print(f"PostgreSQL server's own CPU (all its processes) during the PostgreSQL rounds {spread(pg_cpu['PostgreSQL'], '{:.2f}')} "
          f"ms/message (during the SQLite rounds {spread(pg_cpu['SQLite'], '{:.2f}')})")
    ratio = statistics.median(f.rate for f in figures["PostgreSQL"]) / statistics.median(f.rate for f in figures["SQLite"])
    print(f"PostgreSQL / SQLite (medians): {ratio:.2f}x (target >= 0.8x): {'OK' if ratio >= 0.8 else 'MISSED'}")


def _messages() -> int:
    from tests.bench.bench_core import MESSAGES_PER_VISITOR, VISITORS

    return VISITORS * (MESSAGES_PER_VISITOR + 1)  # the measured messages and each visitor's warm-up one
