"""N `incs run` processes on one PostgreSQL and one Redis: web chat throughput and CPU per message per process.

Visitors are spread round-robin over the processes; each sends its messages in a closed loop (the next
once the previous is acknowledged, i.e. committed). For N = 1, 2, ... (BENCH_PROCESSES) the run reports the
throughput and, for each process, the CPU seconds it spent per message it handled (from /proc). On a machine
with fewer cores than processes the throughput cannot grow; CPU per message is the figure that predicts how it
scales where there are cores: if it stays flat as N grows, N processes on N cores handle N times the load.
Needs BENCH_POSTGRES_URL (emptied first) and BENCH_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from tests.bench.bench_core import MESSAGES_PER_VISITOR, VISITORS, _visitor
from tests.bench.common import ServerProcess, cpu_seconds, load, prepare_db, spread

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
PROCESSES = [int(n) for n in os.environ.get("BENCH_PROCESSES", "1,2").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


async def one_round(servers: list[ServerProcess]) -> tuple[float, list[float]]:
    """Throughput (msg/s) and each process's CPU ms per message it handled."""
    start = asyncio.Event()
    sent: dict[str, float] = {}
    warmed = [asyncio.Event() for _ in range(VISITORS)]
    visitors = [
        asyncio.create_task(_visitor(servers[i % len(servers)].url, i, start, sent, None, [warmed[i]])) for i in range(VISITORS)
    ]
    await asyncio.gather(*(event.wait() for event in warmed))  # every visitor has its conversation and waits
    before = [cpu_seconds(s.pid) for s in servers]
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*visitors)
    elapsed = time.perf_counter() - began
    handled = [MESSAGES_PER_VISITOR * len(range(i, VISITORS, len(servers))) for i in range(len(servers))]
    cpu = [(cpu_seconds(s.pid) - b) / n * 1000 for s, b, n in zip(servers, before, handled, strict=True)]
    return VISITORS * MESSAGES_PER_VISITOR / elapsed, cpu


async def main() -> None:
    if not (PG_URL and REDIS_URL):
        print("skipped: set BENCH_POSTGRES_URL (a database of its own; emptied) and BENCH_REDIS_URL")
        return
    results: dict[int, tuple[list[float], list[list[float]]]] = {}
    for count in PROCESSES:
        await prepare_db(PG_URL)
        with tempfile.TemporaryDirectory() as tmp:
            redis = {"INCS_REDIS__URL": REDIS_URL, "INCS_REDIS__NAMESPACE": f"bench{os.getpid()}n{count}"}
            servers = []
            for n in range(count):
                (Path(tmp) / f"p{n}").mkdir()
                servers.append(ServerProcess(Path(tmp) / f"p{n}", PG_URL, redis))
            rates: list[float] = []
            cpus: list[list[float]] = []
            try:
                for server in servers:
                    await server.wait_ready()
                for _ in range(ROUNDS):
                    rate, cpu = await one_round(servers)
                    rates.append(rate)
                    cpus.append(cpu)
                    print(f"  {count} process(es): {rate:,.0f} msg/s, CPU ms/message per process "
                          + ", ".join(f"{c:.2f}" for c in cpu) + f" ({load()})", flush=True)
            finally:
                for server in servers:
                    server.stop()
        results[count] = (rates, cpus)
    print(f"web chat on PostgreSQL + Redis, {VISITORS} visitors x {MESSAGES_PER_VISITOR} messages, {ROUNDS} rounds, "
          f"min / median / max, {os.cpu_count()} cores ({load()}):")
    base = sorted(results[PROCESSES[0]][0])[len(results[PROCESSES[0]][0]) // 2]
    for count, (rates, cpus) in results.items():
        per_process = [spread([c[i] for c in cpus], "{:.2f}") for i in range(count)]
        median = sorted(rates)[len(rates) // 2]
        print(f"  {count} process(es): {spread(rates)} msg/s ({median / base:.2f}x {PROCESSES[0]})   "
              f"CPU ms/message: " + "; ".join(per_process))
