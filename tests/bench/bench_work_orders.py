"""Issue 10 benchmark: the SLA sweep over 100,000 open work orders and 100,000 open conversations, the
work-order list with 100,000 work orders, and the reports page over a year (100,000 resolved work orders).

Processes: the data is loaded first; each sweep runs in its own child process, which first repeats the previous
round's pass (a long-lived scheduler's statement caches are warm), then is timed (wall and CPU) with the clock
advanced so that some items cross at-risk or breach in every round, both the incremental passes the scheduler
runs between full ones and the full pass (at start and every 20th run); the
list and reports are served by an `incs run` child process and requested by this (load generator) process.
Each figure is min / median / max of 3 rounds, with the machine load printed (2 cores shared), and the server's CPU
time per request (from /proc), which the machine's load does not inflate.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.core.orgs.agents import create_agent
from bot.core.orgs.organizations import create_organization
from bot.core.storage.db import create_engine, session_factory, transaction
from bot.core.work_orders.rollup import AGENT_ROW, HISTOGRAM, bucket_of
from bot.migrate import upgrade_async
from tests.bench.common import ServerProcess, connect_sqlite, percentile
from tests.utils.factories import PASSWORD, login

OPEN = int(os.environ.get("BENCH_OPEN_WORK_ORDERS", "100000"))
RESOLVED = int(os.environ.get("BENCH_RESOLVED_WORK_ORDERS", "100000"))
CONVERSATIONS = int(os.environ.get("BENCH_SLA_CONVERSATIONS", "100000"))
ROUNDS, LIST_REQUESTS, REPORT_REQUESTS = 3, 200, 40
STEP_MINUTES = 10  # each sweep round moves the clock on by this much: a few dozen crossings per round
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
CATEGORIES = ("billing", "delivery", "account", "technical", "other")


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _week(value: datetime) -> str:
    day = value.date()
    return (day - timedelta(days=day.weekday())).isoformat()


async def _prepare(db_url: str) -> None:
    await upgrade_async(db_url)
    engine = create_engine(db_url)
    async with transaction(session_factory(engine)) as session:
        org = await create_organization(session=session, name="Bench Co", slug="demo")
        for n in range(5):
            await create_agent(session=session, org_id=org.id, email=f"agent{n}@bench.example.com", password=PASSWORD,
                               role="admin", name=f"Agent {n}")
    await engine.dispose()


def _load(db_path: Path) -> None:
    """Bulk rows through sqlite3 in the shapes the app writes (timestamps in SQLAlchemy's format)."""
    conn = connect_sqlite(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    org_id = conn.execute("SELECT id FROM organizations WHERE slug='demo'").fetchone()[0]
    agents = [row[0] for row in conn.execute("SELECT id FROM agents ORDER BY id")]
    rng = random.Random(10)
    people = max(CONVERSATIONS, 1)
    conn.executemany("INSERT INTO customers (id, org_id, name, locale, status, first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?)",
                     [(i, org_id, f"Customer {i}", "en", "active", _ts(NOW), _ts(NOW)) for i in range(1, people + 1)])
    conn.executemany("INSERT INTO channel_identities (id, org_id, customer_id, channel, external_id, display_name, reachable,"
                     " flow_state, created_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     [(i, org_id, i, "webchat", f"b-{i}", "", 1, "{}", _ts(NOW), _ts(NOW)) for i in range(1, people + 1)])
    conversations, clocks = [], []
    for i in range(1, CONVERSATIONS + 1):
        # One customer a minute started waiting, over the last 70 days: most clocks crossed long ago (announced),
        # the last few hours' are still running and cross during the rounds.
        waiting = NOW - timedelta(minutes=i)
        conversations.append((i, org_id, i, i, "webchat", "open", 1, _ts(waiting), "question", _ts(waiting), _ts(waiting)))
        risk, due = waiting + timedelta(minutes=192), waiting + timedelta(minutes=240)
        risk_done, due_done = risk <= NOW, due <= NOW
        next_alert = None if due_done else (due if risk_done else risk)
        clocks.append((org_id, i, "first", "normal", _ts(waiting), 240, _ts(due), _ts(risk),
                       _ts(next_alert) if next_alert else None, int(risk_done), int(due_done), _ts(due)))
    conn.executemany("INSERT INTO conversations (id, org_id, customer_id, identity_id, channel, status, unread_count,"
                     " waiting_since, last_message_preview, created_at, last_activity_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     conversations)
    conn.executemany("INSERT INTO conversation_clocks (org_id, conversation_id, kind, priority, started_at, target_minutes,"
                     " due_at, risk_at, next_alert_at, risk_notified, breach_notified, queue_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     clocks)
    orders: list[tuple[Any, ...]] = []
    number = 0
    counts: dict[tuple[str, str, int, int], list[int]] = {}  # what rollup.py keeps as work orders resolve

    def bump(week: str, metric: str, agent: int, bucket: int, met: int, total: int) -> None:
        cell = counts.setdefault((week, metric, agent, bucket), [0, 0, 0])
        cell[0], cell[1], cell[2] = cell[0] + 1, cell[1] + met, cell[2] + total

    for i in range(OPEN):
        number += 1
        created = NOW - timedelta(minutes=192) + timedelta(seconds=i * 60 * 60 // 100)
        risk, due = created + timedelta(minutes=192), created + timedelta(minutes=240)
        orders.append((org_id, number, 1 + i % people, rng.choice(CATEGORIES), "Parcel missing", "[]",
                       rng.choice(("new", "open")), "urgent", rng.choice([None, *agents]), _ts(created), _ts(created),
                       240, _ts(due), _ts(risk), _ts(risk), 0, 0, None, _ts(due), None, None, None, None))
    for i in range(RESOLVED):
        number += 1
        created = NOW - timedelta(days=364) + timedelta(seconds=i * 364 * 86400 // max(RESOLVED, 1))
        took = timedelta(minutes=rng.randint(10, 3000))
        resolved = created + took
        agent, seconds, met = rng.choice(agents), int(took.total_seconds()), int(took <= timedelta(minutes=1440))
        bump(_week(resolved), "resolution", agent, AGENT_ROW, met, seconds)
        bump(_week(resolved), "resolution", HISTOGRAM, bucket_of(seconds), met, seconds)
        bump(_week(resolved), "resolution", agent, bucket_of(seconds), met, seconds)  # the agent's own histogram
        orders.append((org_id, number, 1 + i % people, rng.choice(CATEGORIES), "Refund", "[]", "resolved",
                       rng.choice(("low", "normal", "high")), agent, _ts(created), _ts(resolved), 1440,
                       _ts(created + timedelta(minutes=1440)), None, None, 1, 1, met, None, _ts(resolved), _week(resolved),
                       seconds, agent))
    conn.executemany("INSERT INTO work_orders (org_id, number, customer_id, category, description, attachment_ids, status,"
                     " priority, assignee_id, created_at, updated_at, target_minutes, due_at, risk_at, next_alert_at,"
                     " risk_notified, breach_notified, sla_met, queue_at, resolved_at, resolved_week, resolution_seconds,"
                     " credited_agent_id, channel) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'webchat')", orders)
    first_resolved, answers = OPEN + 1, []
    for i in range(RESOLVED // 3):
        agent, rating, day = rng.choice(agents), rng.randint(1, 5), NOW - timedelta(days=i % 364)
        answers.append((org_id, 1 + i % people, "work_order", first_resolved + i, agent, rating, "", _ts(day), _week(day)))
        bump(_week(day), "csat", agent, AGENT_ROW, 0, rating)
        bump(_week(day), "csat", HISTOGRAM, rating, 0, rating)
    conn.executemany("INSERT INTO csat_responses (org_id, customer_id, subject_type, subject_id, agent_id, rating, comment,"
                     " created_at, week) VALUES (?,?,?,?,?,?,?,?,?)", answers)
    conn.executemany("INSERT INTO report_counts (org_id, week, metric, agent_id, bucket, count, met, total) VALUES (?,?,?,?,?,?,?,?)",
                     [(org_id, *key, *cell) for key, cell in counts.items()])
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def _load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def _spread(values: list[float]) -> str:
    return f"min {min(values):.0f} / median {statistics.median(values):.0f} / max {max(values):.0f} ms"


def sweeps(db_url: str) -> None:
    for mode in ("incremental", "full"):
        elapsed, cpus, raised = [], [], []
        for round_no in range(1, ROUNDS + 1):
            step = round_no * STEP_MINUTES + (ROUNDS * STEP_MINUTES if mode == "full" else 0)
            out = subprocess.run(  # noqa: S603 - our own module
                [sys.executable, "-m", "tests.bench.bench_work_orders", "sweep", db_url, str(step), mode],
                check=True, capture_output=True, text=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            elapsed.append(result["seconds"] * 1000)
            cpus.append(result["cpu"] * 1000)
            raised.append(result["raised"])
            print(f"  {mode} round {round_no}: {result['seconds'] * 1000:.0f} ms wall, {result['cpu'] * 1000:.0f} ms CPU, "
                  f"{result['raised']} pushes raised; {_load_text()}")
        print(f"SLA sweep ({mode}) over {OPEN:,} open work orders + {CONVERSATIONS:,} open conversations: {_spread(elapsed)} "
              f"per sweep, CPU {_spread(cpus)} ({sum(raised)} crossings announced in {ROUNDS} rounds; target < 1000 ms)")


async def _sweep_once(db_url: str, minutes: int, mode: str) -> None:
    from bot.config import Settings
    from bot.core.common import clock
    from bot.core.work_orders.sweeps import sweep_sla

    settings = Settings.model_validate({"database": {"url": db_url}, "secret_key": "x" * 40})
    engine = create_engine(db_url)
    factory = session_factory(engine)
    # The scheduler's process is long-lived: repeat the previous round's pass first (it announces nothing new),
    # so the measured pass runs with warm statement caches, as every pass but a process's very first does.
    earlier = NOW + timedelta(minutes=minutes - STEP_MINUTES)
    clock.set_clock(lambda: earlier)
    await sweep_sla(factory=factory, settings=settings, full=False)
    moment = NOW + timedelta(minutes=minutes)
    clock.set_clock(lambda: moment)
    began, cpu = time.perf_counter(), time.process_time()
    raised = await sweep_sla(factory=factory, settings=settings, full=mode == "full")
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    await engine.dispose()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "raised": raised}))


async def _timed(http: aiohttp.ClientSession, urls: list[str]) -> list[float]:
    timings = []
    for url in urls:
        began = time.perf_counter()
        async with http.get(url) as resp:
            await resp.read()
            assert resp.status == 200, url
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc): what a request costs, whatever the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def pages(base: str, pid: int) -> None:
    filters = ["", "?mine=1", "?unassigned=1", "?at_risk=1", "?breached=1", "?priority=urgent", "?category=billing",
               "?status=open", "?page=3", "?status=resolved"]
    lists, reports = [], []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, base, "agent0@bench.example.com")
        await _timed(http, [f"{base}/workbench/work-orders", f"{base}/workbench/reports?weeks=52"])  # warm up
        for round_no in range(1, ROUNDS + 1):
            cpu = _cpu_seconds(pid)
            timings = await _timed(http, [f"{base}/workbench/work-orders{filters[n % len(filters)]}" for n in range(LIST_REQUESTS)])
            cpu, list_cpu = _cpu_seconds(pid), (_cpu_seconds(pid) - cpu) * 1000 / LIST_REQUESTS
            lists.append(percentile(timings, 95))
            report = await _timed(http, [f"{base}/workbench/reports?weeks=52"] * REPORT_REQUESTS)
            report_cpu = (_cpu_seconds(pid) - cpu) * 1000 / REPORT_REQUESTS
            reports.append(percentile(report, 95))
            print(f"  round {round_no}: list p95 {lists[-1]:.0f} ms (p50 {percentile(timings, 50):.0f}, server CPU {list_cpu:.1f} ms"
                  f" a request), reports p95 {reports[-1]:.0f} ms (p50 {percentile(report, 50):.0f}, server CPU {report_cpu:.1f} ms"
                  f" a request); {_load_text()}")
    print(f"work-order list, {OPEN + RESOLVED:,} work orders, {LIST_REQUESTS} requests over {len(filters)} filters: p95 "
          f"{_spread(lists)} (target < 50 ms)")
    print(f"reports page, a year with {RESOLVED:,} resolved work orders: p95 {_spread(reports)} (target < 200 ms)")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db_path = data / "incs.db"
        db_url = f"sqlite+aiosqlite:///{db_path}"
        await _prepare(db_url)
        began = time.perf_counter()
        await asyncio.to_thread(_load, db_path)
        print(f"  (loaded {OPEN + RESOLVED:,} work orders and {CONVERSATIONS:,} conversations in {time.perf_counter() - began:.0f} s)")
        sweeps(db_url)
        server = ServerProcess(data, db_url, {"INCS_SLA__ENABLED": "false", "INCS_NOTIFICATIONS__ENABLED": "false"})
        try:
            await server.wait_ready()
            await pages(server.url, server.pid)
        finally:
            server.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["sweep"]:
        asyncio.run(_sweep_once(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    else:
        asyncio.run(main())
