"""Shared pieces of the benchmarks: a real `incs run` server and other roles in child processes, percentiles,
min/median/max of rounds, CPU and memory of a child read from /proc, the machine's load with every figure."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


class ServerProcess:
    """`incs run` on its own core, so the load generator does not share its event loop."""

    def __init__(self, data_dir: Path, db_url: str, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            INCS_DATA_DIR=str(data_dir),
            INCS_DATABASE__URL=db_url,
            INCS_SERVER__PORT=str(self.port),
            INCS_SECRET_KEY="bench-secret-key-0123456789-abcdefghijkl",
            INCS_LOGGING__LEVEL="WARNING",
            INCS_CONFIG=str(data_dir / "none.yaml"),
        )
        env.update(extra_env or {})
        self.proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "bot", "run"], env=env, stdout=subprocess.DEVNULL, stderr=open(data_dir / "server.log", "w")
        )

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("server died; see server.log in the data dir")
                try:
                    async with http.get(f"{self.url}/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError("server did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Child:
    """A `tests.bench.procs` role in its own process; `url` is what it printed when ready."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "tests.bench.procs", *args], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            self.stop()
            raise RuntimeError(f"{args[0]} did not start")
        self.url = line[1]
        self.pid = self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settled(pid: int, *, below: float = 0.05, window: float = 1.0, most: float = 60.0) -> float:
    """Waits until a process used less than `below` of a core over `window` seconds (it has finished what earlier
    load left it to do: the SLA sweep starting the clocks of thousands of new chats, a checkpoint), at most `most`
    seconds; returns how long it waited."""
    began = time.monotonic()
    while time.monotonic() - began < most:
        before = cpu_seconds(pid)
        await asyncio.sleep(window)
        if cpu_seconds(pid) - before < below * window:
            break
    return time.monotonic() - began


class PostgresCpu:
    """CPU seconds (user + system) of the PostgreSQL backends connected to one database, read from /proc (the
    server runs on this machine) every `every` seconds while the block runs, so a backend that exits meanwhile (a
    connection the pool closed) counts up to its last reading and other databases' backends (another engineer's
    tests) do not count at all."""

    def __init__(self, database: str, every: float = 0.05) -> None:
        self.database = database
        self.every = every
        self.seconds = 0.0
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PostgresCpu:
        self._read(first=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()
        self.seconds = sum(last - self._first.get(pid, 0.0) for pid, last in self._last.items())

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._read()

    def _read(self, first: bool = False) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
                if not title.startswith("postgres:"):
                    continue
                words = [word for word in title.split() if not word.endswith(":")]  # "postgres: [cluster:] user db host ..."
                if len(words) < 2 or words[1] != self.database:
                    continue
                seconds = cpu_seconds(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            (self._first if first else self._last)[int(entry.name)] = seconds
            if first:
                self._last[int(entry.name)] = seconds


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_times() -> list[int]:
    """The machine's CPU time so far, by kind (/proc/stat's first line: user nice system idle iowait irq softirq steal)."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return []


_last_cpu_times = _cpu_times()


def load() -> str:
    """The load average, and on a virtual machine the share of its CPU time the hypervisor gave to others (steal)
    since the previous call: a round that lost a tenth of its time to a neighbour says so."""
    global _last_cpu_times
    one, five, _ = os.getloadavg()
    now = _cpu_times()
    stolen = ""
    if now and _last_cpu_times:
        delta = [b - a for a, b in zip(_last_cpu_times, now, strict=True)]
        if sum(delta) > 0:
            stolen = f", {100 * delta[7] / sum(delta):.0f}% stolen"
    _last_cpu_times = now
    return f"load {one:.2f}/{five:.2f} on {os.cpu_count()} cores{stolen}"


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    """min / median / max of the rounds."""
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


async def prepare_db(db_url: str) -> None:
    """Migrated, with the organization "demo" and its agent (agent@bench.example.com)."""
    from bot.core.orgs.agents import create_agent
    from bot.core.orgs.organizations import create_organization
    from bot.core.storage.db import create_engine, session_factory, transaction
    from bot.migrate import upgrade_async
    from tests.utils.factories import PASSWORD

    if not db_url.startswith("sqlite"):
        await reset_postgres(db_url)
    await upgrade_async(db_url)
    engine = create_engine(db_url)
    async with transaction(session_factory(engine)) as session:
        org = await create_organization(session=session, name="Bench Co", slug="demo")
        await create_agent(session=session, org_id=org.id, email="agent@bench.example.com", password=PASSWORD, role="admin")
    await engine.dispose()


async def reset_postgres(db_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def outbox_backlog(db_url: str) -> int:
    """Outbox items not yet delivered, read from the database by this (the load generator's) process."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')")) or 0)
    finally:
        await engine.dispose()


async def clocks_started(db_url: str, most: float = 120.0) -> float:
    """Waits until the server's SLA sweep has started a response clock for every conversation waiting on the team
    (read from the database by this process); returns how long it waited."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    unclocked = text(
        "SELECT count(*) FROM conversations c WHERE c.status IN ('open', 'pending') AND c.waiting_since IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM conversation_clocks k WHERE k.conversation_id = c.id)"
    )
    began = time.monotonic()
    engine = create_async_engine(db_url)
    try:
        while time.monotonic() - began < most:
            async with engine.connect() as conn:
                if not await conn.scalar(unclocked):
                    break
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    return time.monotonic() - began


def connect_sqlite(database: str | Path, **kwargs: Any) -> sqlite3.Connection:
    """A plain sqlite3 connection for seeding, with the SQL function every app connection has (the search
    triggers call it: bot/core/common/cjk.py)."""
    from bot.core.common import cjk

    conn: sqlite3.Connection = sqlite3.connect(database, **kwargs)
    conn.create_function(cjk.SQL_FUNCTION, 1, cjk.index_text, deterministic=True)
    return conn
