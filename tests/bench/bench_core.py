"""Web chat messages/s through the whole pipeline on SQLite, and inbox p95 at 100k conversations / 1M messages.

Pipeline: a visitor's websocket frame -> validate -> group-committed store (message, conversation,
flow, outbox) -> ack to the visitor -> fan-out to an agent's socket watching the conversation.
Latency is measured from the visitor's send to the agent socket receiving the message.
The server is `incs run` in its own process; this process is the load generator. Saturation (closed loop)
and an open loop at 1,500 msg/s offered alternate for 3 rounds, reported as min / median / max with the load
and the server's CPU per message.
Targets: >= 3,000 msg/s at saturation, p99 < 50 ms at 1,500 msg/s offered.

The anchor, in the same run and alternating with it: `tests.bench.procs bare-webchat`, the same frames over the same
aiohttp websockets with nothing stored, in its own process and driven by the same load generator. The targets are
absolute, so the anchor is what tells a slower machine from a slower pipeline.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.bench.common import Child, ServerProcess, connect_sqlite, cpu_seconds, load, percentile, prepare_db, spread
from tests.utils.factories import login

VISITORS = int(os.environ.get("BENCH_VISITORS", "50"))
MESSAGES_PER_VISITOR = int(os.environ.get("BENCH_MESSAGES", "100"))
CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", "100000"))
MESSAGES_PER_CONVERSATION = int(os.environ.get("BENCH_MESSAGES_PER_CONVERSATION", "10"))
INBOX_REQUESTS = 300
OFFERED = float(os.environ.get("BENCH_RATE", "1500"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
INBOX = os.environ.get("BENCH_INBOX", "1") == "1"


@dataclass
class Figures:
    rate: float  # messages per second that reached the agent's socket
    p50: float  # ms, send -> agent socket
    p99: float
    load: str
    cpu_ms: float  # the server's CPU (user + system) per message while measured


async def _visitor(
    base: str, index: int, start: asyncio.Event, sent: dict[str, float], rate: float | None, warmed: Sequence[asyncio.Event] = ()
) -> None:
    """Closed loop (rate None): send, wait for the ack, send again. Open loop: send on a fixed schedule."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/chat"):
            pass
        async with http.ws_connect(f"{base}/chat/ws") as ws:
            await ws.receive_json()
            await ws.send_json({"type": "text", "text": f"hello from {index}", "client_id": "warm"})
            await _until_ack(ws, "warm")
            for event in warmed:
                event.set()
            await start.wait()
            if rate is None:
                for n in range(MESSAGES_PER_VISITOR):
                    key = f"v{index}m{n}"
                    sent[key] = time.perf_counter()
                    await ws.send_json({"type": "text", "text": key, "client_id": key})
                    await _until_ack(ws, key)
                return
            reader = asyncio.create_task(_until_ack(ws, f"v{index}m{MESSAGES_PER_VISITOR - 1}"))
            began = time.perf_counter() + random.random() / rate  # spread the visitors' phases
            for n in range(MESSAGES_PER_VISITOR):
                delay = began + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                key = f"v{index}m{n}"
                sent[key] = time.perf_counter()
                await ws.send_str(f'{{"type": "text", "text": "{key}", "client_id": "{key}"}}')
            await reader


async def _next(ws: aiohttp.ClientWebSocketResponse, progress: str) -> dict[str, Any]:
    """The agent socket's next event; a minute without one stops the run with how far it got. (receive_json's own
    timeout starts again at each of the server's heartbeat pings, so with it a lost event hung the run for good.)"""
    try:
        async with asyncio.timeout(60):  # not wait_for: a task per event slowed the load generator (bare p50 1 -> 90 ms)
            event: dict[str, Any] = await ws.receive_json()
    except TimeoutError:
        raise RuntimeError(f"no event on the agent's socket for 60 s: {progress}") from None
    return event


async def _until_ack(ws: aiohttp.ClientWebSocketResponse, client_id: str) -> None:
    while True:
        event = await ws.receive_json()
        if event.get("client_id") == client_id:
            if event["type"] != "ack":
                raise RuntimeError(event)
            return


async def pipeline(base: str, pid: int, offered: float | None = None, *, bare: bool = False, quiet: bool = False) -> Figures:
    """offered None: saturation (closed loop). Else an open loop offering `offered` messages per second in all.
    `pid` is the server's process, whose CPU is read; `bare`: the anchor, which has no login."""
    sent: dict[str, float] = {}
    latencies: list[float] = []
    start = asyncio.Event()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent_http:
        if not bare:
            await login(agent_http, base, "agent@bench.example.com")
        per_visitor = offered / VISITORS if offered else None
        visitors = [asyncio.create_task(_visitor(base, i, start, sent, per_visitor)) for i in range(VISITORS)]
        async with agent_http.ws_connect(f"{base}/workbench/ws") as agent_ws:
            # Warm-up messages open one conversation per visitor; the agent watches them all, and the load starts
            # once the server has confirmed every watch: a message stored before its watch took hold would never
            # reach the agent (a server slowed down, under py-spy say, took more than the second this used to wait).
            watched: set[int] = set()
            confirmed: set[int] = set()
            while len(confirmed) < VISITORS:
                event = await _next(agent_ws, f"{len(confirmed)} of {VISITORS} watches confirmed")
                if event.get("type") == "inbox" and event["conversation_id"] not in watched:
                    watched.add(event["conversation_id"])
                    await agent_ws.send_json({"type": "watch", "conversation_id": event["conversation_id"]})
                elif event.get("type") == "watching":
                    confirmed.add(event["conversation_id"])
            await asyncio.sleep(1.0)  # the warm-up's greetings and their deliveries settle before the measured window
            expected = VISITORS * MESSAGES_PER_VISITOR
            began, cpu = time.perf_counter(), cpu_seconds(pid)
            start.set()
            while len(latencies) < expected:
                event = await _next(agent_ws, f"{len(latencies):,} of {expected:,} messages seen by the agent")
                if event.get("type") == "message" and event["message"]["direction"] == "in":
                    key = event["message"]["text"]
                    if key in sent:
                        latencies.append(time.perf_counter() - sent[key])
            elapsed, cpu = time.perf_counter() - began, cpu_seconds(pid) - cpu
        await asyncio.gather(*visitors)
    figures = Figures(len(latencies) / elapsed, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000, load(),
                      cpu * 1000 / len(latencies))
    if not quiet:
        mode = ("bare " if bare else "") + (f"{offered:,.0f} msg/s offered" if offered else "saturation")
        print(f"    {mode}: {figures.rate:,.0f} msg/s, p50 {figures.p50:.1f} ms, p99 {figures.p99:.1f} ms, "
              f"server CPU {figures.cpu_ms:.3f} ms/msg ({figures.load})", flush=True)
    return figures


def report(name: str, figures: list[Figures], anchor: list[Figures] | None = None) -> str:
    rates, p99s, cpus = [f.rate for f in figures], [f.p99 for f in figures], [f.cpu_ms for f in figures]
    ratio = ""
    if anchor:
        ratio = f"   {statistics.median(rates) / statistics.median(f.rate for f in anchor):.2f}x bare"
    return (f"  {name:<34} {spread(rates)} msg/s   p99 {spread(p99s, '{:.1f}')} ms   "
            f"CPU {spread(cpus, '{:.3f}')} ms/msg{ratio}")


def _load_inbox_data(db_path: Path) -> None:
    """Bulk rows straight through sqlite3: 100k conversations, 1M messages (the shapes the app writes)."""
    conn = connect_sqlite(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = datetime(2026, 1, 1)
    org_id = conn.execute("SELECT id FROM organizations WHERE slug='demo'").fetchone()[0]
    rng = random.Random(7)
    batch = 10_000
    # Ids above whatever the pipeline run left (the same id serves customer, identity and conversation).
    base = 1 + max(
        conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]  # noqa: S608 - fixed table names
        for table in ("customers", "channel_identities", "conversations")
    )
    for first in range(base, base + CONVERSATIONS, batch):
        ids = range(first, min(first + batch, base + CONVERSATIONS))
        stamp = [now + timedelta(seconds=i * 7) for i in ids]
        conn.executemany(
            "INSERT INTO customers (id, org_id, name, locale, status, first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?)",
            [(i, org_id, f"Customer {i}", "en", "active", s, s) for i, s in zip(ids, stamp, strict=True)],
        )
        conn.executemany(
            "INSERT INTO channel_identities (id, org_id, customer_id, channel, external_id, display_name, reachable, flow_state,"
            " created_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(i, org_id, i, "webchat", f"bench-{i}", "", 1, "{}", s, s) for i, s in zip(ids, stamp, strict=True)],
        )
        conn.executemany(
            "INSERT INTO conversations (id, org_id, customer_id, identity_id, channel, status, unread_count, waiting_since,"
            " last_message_preview, created_at, last_activity_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (i, org_id, i, i, "webchat", rng.choice(["open", "open", "pending", "resolved"]), rng.randint(0, 3), s,
                 f"question {i}", s, s)
                for i, s in zip(ids, stamp, strict=True)
            ],
        )
        rows = []
        for i, s in zip(ids, stamp, strict=True):
            for m in range(MESSAGES_PER_CONVERSATION):
                rows.append((org_id, i, i, "in" if m % 2 == 0 else "out", "customer" if m % 2 == 0 else "agent", "text",
                             f"message {m} of conversation {i}", "received", 0, s + timedelta(seconds=m)))
        conn.executemany(
            "INSERT INTO messages (org_id, conversation_id, identity_id, direction, author_type, kind, text, delivery_state,"
            " edited, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


async def inbox(base: str) -> None:
    timings: list[float] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, base, "agent@bench.example.com")
        cursor = ""
        for n in range(INBOX_REQUESTS):
            status = ("open", "pending", "resolved")[n % 3]
            url = f"{base}/workbench?status={status}" + (f"&after={cursor}" if cursor and n % 3 == 0 else "")
            began = time.perf_counter()
            async with http.get(url) as resp:
                body = await resp.text()
                assert resp.status == 200
            timings.append(time.perf_counter() - began)
            if n % 3 == 0 and "after=" in body:
                cursor = body.split("after=", 1)[1].split('"', 1)[0]
    print(
        f"inbox page ({CONVERSATIONS:,} conversations, {CONVERSATIONS * MESSAGES_PER_CONVERSATION:,} messages): "
        f"p50 {percentile(timings, 50) * 1000:.1f} ms, p95 {percentile(timings, 95) * 1000:.1f} ms over {len(timings)} "
        "requests (target p95 < 50 ms)"
    )


async def main() -> None:
    # The load generator is Python too: keep its own collector pauses out of the measured latencies.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db_path = data / "incs.db"
        db_url = f"sqlite+aiosqlite:///{db_path}"
        await prepare_db(db_url)
        server = ServerProcess(data, db_url)
        bare = Child("bare-webchat")
        saturated: list[Figures] = []
        offered: list[Figures] = []
        bare_saturated: list[Figures] = []
        bare_offered: list[Figures] = []
        try:
            await server.wait_ready()
            for round_no in range(1, ROUNDS + 1):
                print(f"  round {round_no}", flush=True)
                bare_saturated.append(await pipeline(bare.url, bare.pid, bare=True))
                saturated.append(await pipeline(server.url, server.pid))
                bare_offered.append(await pipeline(bare.url, bare.pid, offered=OFFERED, bare=True))
                offered.append(await pipeline(server.url, server.pid, offered=OFFERED))
        finally:
            server.stop()
            bare.stop()
            slow = [line for line in (data / "server.log").read_text().splitlines() if "slow" in line]
            print(f"  server: {len(slow)} slow ingest batches" + "".join(f"\n    {line}" for line in slow[:5]))
        print(f"web chat pipeline on SQLite, {VISITORS} visitors x {MESSAGES_PER_VISITOR} messages, {ROUNDS} alternating rounds, "
              "min / median / max:")
        print(report("bare websockets, saturation", bare_saturated) + "   (the anchor: nothing stored)")
        print(report("INCS saturation (closed loop)", saturated, bare_saturated) + "   (target >= 3,000 msg/s)")
        print(report(f"bare websockets, {OFFERED:,.0f} msg/s offered", bare_offered))
        print(report(f"INCS {OFFERED:,.0f} msg/s offered (open loop)", offered) + "   (target p99 < 50 ms)")
        if not INBOX:
            return
        began = time.perf_counter()
        await asyncio.to_thread(_load_inbox_data, db_path)
        print(f"  (loaded inbox data in {time.perf_counter() - began:.0f} s)")
        server = ServerProcess(data, db_url)
        try:
            await server.wait_ready()
            await inbox(server.url)
        finally:
            server.stop()
