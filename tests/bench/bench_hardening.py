"""Issue 12 benchmark: /healthz latency while 60 agents sign in at once, and during 20,000 half-open
connections from one address.

Three processes at least: `incs run` (SQLite), the load generators (`python -m tests.bench.bench_hardening
logins|halfopen ...`, two half-open generators of 10,000 connections each, from 127.0.0.2), and this
prober, which asks /healthz back to back from 127.0.0.1 for the length of the load. Each scenario runs
3 rounds; printed: min / median / max over rounds of the prober's p50, p99 and max, with os.getloadavg().
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bot.core.orgs.agents import create_agent
from bot.core.orgs.organizations import create_organization
from bot.core.storage.db import create_engine, session_factory, transaction
from bot.migrate import upgrade_async
from tests.bench.common import ServerProcess, percentile

LOGINS = int(os.environ.get("BENCH_LOGINS", "60"))
HALF_OPEN = int(os.environ.get("BENCH_HALF_OPEN", "20000"))
HOLD_SECONDS = float(os.environ.get("BENCH_HOLD_SECONDS", "15"))
ROUNDS = 3
PASSWORD = "bench password 0123"
ATTACKER = "127.0.0.2"


async def _prepare(db_url: str) -> None:
    await upgrade_async(db_url)
    engine = create_engine(db_url)
    async with transaction(session_factory(engine)) as session:
        org = await create_organization(session=session, name="Bench Co", slug="demo")
        for i in range(LOGINS):
            await create_agent(session=session, org_id=org.id, email=f"agent{i}@bench.example.com", password=PASSWORD)
    await engine.dispose()


# ---- load generators (child processes) ----

async def _one_login(base: str, index: int) -> tuple[int, float]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/workbench/login") as resp:
            page = await resp.text()
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        started = time.perf_counter()
        async with http.post(f"{base}/workbench/login", allow_redirects=False,
                             data={"email": f"agent{index}@bench.example.com", "password": PASSWORD, "csrf_token": token}) as resp:
            return resp.status, time.perf_counter() - started


async def _logins(base: str) -> None:
    results = await asyncio.gather(*(_one_login(base, i) for i in range(LOGINS)))
    print(json.dumps({"statuses": sorted({s for s, _ in results}), "max_login_s": max(t for _, t in results)}), flush=True)


def _half_open(port: int, count: int, hold: float) -> None:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.bind((ATTACKER, 0))
            sock.connect_ex(("127.0.0.1", port))
        except OSError:
            sock.close()
            break
        sockets.append(sock)
    print(json.dumps({"opened": len(sockets)}), flush=True)
    time.sleep(hold)
    for sock in sockets:
        sock.close()


def _child(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "tests.bench.bench_hardening", *args], stdout=subprocess.PIPE, text=True
    )


# ---- the prober ----

async def _probe_while(base: str, children: list[subprocess.Popen[str]]) -> list[float]:
    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while any(child.poll() is None for child in children):
            started = time.perf_counter()
            try:
                async with http.get(f"{base}/healthz") as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            latencies.append((time.perf_counter() - started) * 1000 if ok else float("inf"))
    return latencies


def _summary(name: str, rounds: list[list[float]], notes: list[str]) -> None:
    def stat(p: float | None) -> str:
        values = [max(r) if p is None else percentile(r, p) for r in rounds]
        return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f} ms"

    failed = sum(sum(1 for v in r if v == float("inf")) for r in rounds)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{name}: /healthz p50 {stat(50)}, p99 {stat(99)}, max {stat(None)} (min / median / max of {ROUNDS} rounds; "
          f"{sum(len(r) for r in rounds)} probes, {failed} failed; load average {load})")
    for note in notes:
        print(f"  {note}")


async def _scenario_logins(server: ServerProcess) -> None:
    rounds, notes = [], []
    for _ in range(ROUNDS):
        child = _child(["logins", server.url])
        rounds.append(await _probe_while(server.url, [child]))
        notes.append(child.communicate()[0].strip())
    _summary(f"{LOGINS} parallel logins", rounds, notes)


async def _scenario_half_open(server: ServerProcess) -> None:
    rounds, notes = [], []
    for _ in range(ROUNDS):
        children = [_child(["halfopen", str(server.port), str(HALF_OPEN // 2), str(HOLD_SECONDS)]) for _ in range(2)]
        rounds.append(await _probe_while(server.url, children))
        notes.append(" ".join(child.communicate()[0].strip() for child in children))
    _summary(f"{HALF_OPEN} half-open connections from {ATTACKER}", rounds, notes)


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db_url = f"sqlite+aiosqlite:///{data / 'bench.db'}"
        await _prepare(db_url)
        server = ServerProcess(data, db_url)
        try:
            await server.wait_ready()
            baseline = await _probe_while(server.url, [_child(["sleep", "3"])])
            print(f"idle: /healthz p50 {percentile(baseline, 50):.1f} ms, p99 {percentile(baseline, 99):.1f} ms")
            await _scenario_logins(server)
            await _scenario_half_open(server)
            log_lines = (data / "server.log").read_text().splitlines()
            print(f"server log: {len(log_lines)} lines; load average {os.getloadavg()}")
        finally:
            server.stop()


def main() -> None:
    print(f"load average before: {os.getloadavg()}")
    asyncio.run(run())


def _role(argv: list[str]) -> int:
    if argv[0] == "logins":
        asyncio.run(_logins(argv[1]))
    elif argv[0] == "halfopen":
        _half_open(int(argv[1]), int(argv[2]), float(argv[3]))
    elif argv[0] == "sleep":
        time.sleep(float(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(_role(sys.argv[1:]))
