"""Issue 13 benchmark: the nightly retention run over 1,000,000 messages of which 500,000 expired, on SQLite, while
a web chat visitor keeps writing: the run's rate (rows/s) and the longest a chat message waited for its ack during it.

`incs run` runs in its own process (tests/bench/common.py) with `retention.check_seconds` short, so its nightly job
finds the (never yet done) run due BASELINE seconds after start, as after a restart that missed the night; this process
seeds the database with bulk inserts (sqlite3, no ORM) and is the web chat visitor (the load generator): one message
every 20 ms (open loop), each timed from send to the server's ack (the ack follows the commit). The run's end and its
counts come from its `retention.run` audit event, read from the database. The chat messages of the seconds before
the run (from 2 s after start) are the baseline: on a loaded machine they show the pauses that are not the run's.
Three rounds, each on a fresh copy.
`BENCH_RETENTION_MESSAGES` sets a smaller size while developing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from tests.bench.common import ServerProcess, connect_sqlite, load, prepare_db, spread

TOTAL = int(os.environ.get("BENCH_RETENTION_MESSAGES", "1000000"))
CONVERSATIONS = 2000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
INTERVAL = 0.02  # one chat message every 20 ms
BASELINE = 15  # seconds from start to the nightly job's first check


def _seed(path: Path) -> None:
    db = connect_sqlite(path)
    today = datetime.now(UTC).replace(tzinfo=None)
    old, young = today - timedelta(days=1000), today - timedelta(days=1)
    ts = young.isoformat(sep=" ")
    db.executemany("INSERT INTO customers (id, org_id, name, locale, status, first_seen_at, last_seen_at)"
                   " VALUES (?, 1, ?, 'en', 'active', ?, ?)", [(c, f"Customer {c}", ts, ts) for c in range(1, CONVERSATIONS + 1)])
    db.executemany("INSERT INTO channel_identities (id, org_id, customer_id, channel, external_id, display_name, reachable,"
                   " flow_state, created_at, last_seen_at) VALUES (?, 1, ?, 'webchat', ?, '', 1, '{}', ?, ?)",
                   [(c, c, f"visitor-{c:06d}", ts, ts) for c in range(1, CONVERSATIONS + 1)])
    db.executemany("INSERT INTO conversations (id, org_id, customer_id, identity_id, channel, status, unread_count,"
                   " last_message_preview, created_at, last_activity_at) VALUES (?, 1, ?, ?, 'webchat', 'resolved', 0, '', ?, ?)",
                   [(c, c, c, ts, ts) for c in range(1, CONVERSATIONS + 1)])

    def messages() -> object:
        half = TOTAL // 2
        for n in range(1, TOTAL + 1):
            conv = 1 + n % CONVERSATIONS
            stamp = (old if n <= half else young) + timedelta(seconds=n % 86400)
            yield (n, conv, conv, f"message {n}: where is my order", stamp.isoformat(sep=" "))

    db.executemany("INSERT INTO messages (id, org_id, conversation_id, identity_id, direction, author_type, kind, text,"
                   " delivery_state, edited, created_at) VALUES (?, 1, ?, ?, 'in', 'customer', 'text', ?, 'received', 0, ?)",
                   messages())  # type: ignore[arg-type]
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def _visitor(base: str, stop: asyncio.Event, timings: list[tuple[float, float]]) -> None:
    """(sent at, ms to the ack) of every message, one every INTERVAL until `stop`."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/chat"):
            pass
        async with http.ws_connect(f"{base}/chat/ws") as ws:
            await ws.receive_json()
            n = 0
            began = time.perf_counter()
            while not stop.is_set():
                key = f"m{n}"
                sent = time.perf_counter()
                await ws.send_json({"type": "text", "text": key, "client_id": key})
                while (await ws.receive_json()).get("client_id") != key:
                    pass
                timings.append((sent, (time.perf_counter() - sent) * 1000))
                n += 1
                delay = began + n * INTERVAL - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)


def _finished(db_path: Path) -> dict[str, object] | None:
    db = connect_sqlite(db_path)
    try:
        row = db.execute("SELECT detail FROM audit_events WHERE action = 'retention.run'").fetchone()
    finally:
        db.close()
    return None if row is None else dict(json.loads(row[0]))


def _slow_batches(log: Path) -> list[tuple[int, str]]:
    """The ingest writer's own account of its slow batches (it logs any over 50 ms, with the time of each step)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        match = re.search(r"slow ingest batch: \d+ events in (\d+) ms \(load, handle, flush, commit: ([\d, ]+) ms\)", line)
        if match:
            found.append((int(match[1]), match[2]))
    return found


@dataclass
class Round:
    rate: float
    longest: float  # ms, the longest ack during the run
    median: float
    count: int
    baseline_longest: float  # ms, before the run
    baseline_median: float


async def _round(template: Path, work: Path) -> Round:
    shutil.copy(template, work / "incs.db")
    server = ServerProcess(work, f"sqlite+aiosqlite:///{work / 'incs.db'}",
                           {"INCS_RETENTION__CHECK_SECONDS": str(BASELINE), "INCS_RETENTION__MESSAGES_DAYS": "365",
                            "INCS_RETENTION__ATTACHMENTS_DAYS": "365", "INCS_NOTIFICATIONS__ENABLED": "false"})
    try:
        await server.wait_ready()
        ready = time.perf_counter()
        stop, timings = asyncio.Event(), list[tuple[float, float]]()
        visitor = asyncio.create_task(_visitor(server.url, stop, timings))
        while (detail := _finished(work / "incs.db")) is None:  # noqa: ASYNC110 - polling another process's database
            if server.proc.poll() is not None or visitor.done():
                raise RuntimeError(f"server or visitor stopped; see {work / 'server.log'}")
            await asyncio.sleep(0.2)
        ended = time.perf_counter()
        stop.set()
        await visitor
        seconds = float(detail["seconds"])  # type: ignore[arg-type]
        removed = dict(detail["removed"])  # type: ignore[call-overload]
        began = ended - seconds - 0.5  # the event is polled every 0.2 s: take a little more than the run
        during = [ms for sent, ms in timings if began <= sent <= ended]
        before = [ms for sent, ms in timings if ready + 2 <= sent < began]
        assert removed.get("messages") == TOTAL // 2, removed
        return Round(removed["messages"] / seconds, max(during), statistics.median(during), len(during),
                     max(before or [float("nan")]), statistics.median(before or [float("nan")]))
    finally:
        server.stop()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        template = root / "template.db"
        started = time.perf_counter()
        await prepare_db(f"sqlite+aiosqlite:///{template}")
        _seed(template)
        print(f"seeded {TOTAL:,} messages ({TOTAL // 2:,} expired) in {time.perf_counter() - started:.0f} s", flush=True)
        rounds: list[Round] = []
        for n in range(ROUNDS):
            work = root / f"round{n}"
            work.mkdir()
            before = load()
            r = await _round(template, work)
            rounds.append(r)
            print(f"round {n + 1}: {r.rate:,.0f} rows/s; chat ack during the run: longest {r.longest:.0f} ms, median"
                  f" {r.median:.0f} ms over {r.count} messages; before the run: longest {r.baseline_longest:.0f} ms,"
                  f" median {r.baseline_median:.0f} ms ({before} before, {load()} after)", flush=True)
            slow = sorted(_slow_batches(work / "server.log"), reverse=True)[:3]
            if slow:
                print("  slowest ingest batches in the server log (ms; load, handle, flush, commit):",
                      "; ".join(f"{ms} ({steps})" for ms, steps in slow), flush=True)
            shutil.rmtree(work)
        print(f"retention rate rows/s (min / median / max): {spread([r.rate for r in rounds])}")
        print(f"longest chat ack during the run, ms (min / median / max): {spread([r.longest for r in rounds])}"
              "  (target < 100 ms)")
        print(f"longest chat ack before the run, ms (min / median / max): {spread([r.baseline_longest for r in rounds])}")
