"""Issue 11 benchmark: export and deletion of one customer with 50,000 messages and 200 attachments among
1,000,000 messages on SQLite; export peak memory above the idle server.

`incs run` runs in its own process (tests/bench/common.py); this process seeds the database and drives the
workbench over HTTP as an agent (the load generator). The customer writes on web chat, which needs no fake
platform process. Export: from the agent's POST to the package being ready (polled in the database).
Deletion: the agent's POST that erases (synchronous). The server's CPU seconds for each are printed too: on
a shared, loaded machine they show the work apart from the waiting. Peak memory: the server's VmHWM (reset with
/proc/<pid>/clear_refs just before the export) minus its resident size when idle. Three rounds, each on a
fresh copy of the seeded database and files.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp

from bot.core.orgs.agents import create_agent
from bot.core.orgs.organizations import create_organization
from bot.core.storage.db import create_engine, session_factory, transaction
from bot.migrate import upgrade_async
from tests.bench.common import ServerProcess, connect_sqlite
from tests.utils.factories import PASSWORD, login

TOTAL = int(os.environ.get("BENCH_RIGHTS_MESSAGES", "1000000"))
MINE = int(os.environ.get("BENCH_RIGHTS_CUSTOMER_MESSAGES", "50000"))
FILES = 200
CUSTOMERS = 2000
ROUNDS = 3
T0 = datetime(2026, 11, 1)


async def _prepare(db_url: str) -> None:
    await upgrade_async(db_url)
    engine = create_engine(db_url)
    async with transaction(session_factory(engine)) as session:
        org = await create_organization(session=session, name="Bench Co", slug="demo")
        await create_agent(session=session, org_id=org.id, email="agent@bench.example.com", password=PASSWORD, role="admin")
    await engine.dispose()


def _seed(path: Path, data_dir: Path) -> None:
    db = connect_sqlite(path)
    ts = T0.isoformat(sep=" ")
    db.executemany("INSERT INTO customers (id, org_id, name, email, phone, locale, verified_at, status, first_seen_at, last_seen_at)"
                   " VALUES (?, 1, ?, ?, NULL, 'en', ?, 'active', ?, ?)",
                   [(c, f"Customer {c}", f"c{c}@example.com", ts, ts, ts) for c in range(1, CUSTOMERS + 1)])
    db.executemany("INSERT INTO channel_identities (id, org_id, customer_id, channel, external_id, display_name, reachable,"
                   " flow_state, created_at, last_seen_at) VALUES (?, 1, ?, 'webchat', ?, '', 1, '{}', ?, ?)",
                   [(c, c, f"visitor-{c:06d}", ts, ts) for c in range(1, CUSTOMERS + 1)])
    db.executemany("INSERT INTO conversations (id, org_id, customer_id, identity_id, channel, status, unread_count,"
                   " last_message_preview, created_at, last_activity_at) VALUES (?, 1, ?, ?, 'webchat', 'open', 0, '', ?, ?)",
                   [(c, c, c, ts, ts) for c in range(1, CUSTOMERS + 1)])
    folder = data_dir / "attachments" / "1" / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in range(1, FILES + 1):
        (folder / f"file{n}").write_bytes(os.urandom(2048) + b"customer one's file")
        rows.append((n, f"scan-{n}.png", f"attachments/1/ab/file{n}", ts))
    db.executemany("INSERT INTO attachments (id, org_id, customer_id, filename, mime_type, size, sha256, storage_path, created_at)"
                   " VALUES (?, 1, 1, ?, 'image/png', 2067, '', ?, ?)", rows)

    def messages() -> object:
        for n in range(1, TOTAL + 1):
            conv = 1 if n <= MINE else 2 + n % (CUSTOMERS - 1)
            attachment = n if n <= FILES else None
            stamp = (T0 + timedelta(seconds=n)).isoformat(sep=" ")
            yield (n, conv, conv, "in", "customer", f"message {n} of conversation {conv}: my order is late", attachment, stamp)

    db.executemany("INSERT INTO messages (id, org_id, conversation_id, identity_id, direction, author_type, kind, text,"
                   " attachment_id, delivery_state, edited, created_at) VALUES (?, 1, ?, ?, ?, ?, 'text', ?, ?, 'received', 0, ?)",
                   messages())  # type: ignore[arg-type]
    db.executemany("INSERT INTO outbox (org_id, channel, target, payload, idempotency_key, message_id, state, attempts,"
                   " next_attempt_at, last_error, created_at) VALUES (1, 'webchat', ?, '{\"text\": \"reply\"}', ?, ?, 'sent', 1, ?, '', ?)",
                   [(f"visitor-{1 if n <= MINE else 2:06d}", f"msg:{n}", n, ts, ts) for n in range(1, TOTAL + 1, 10)])
    db.executemany("INSERT INTO rights_requests (org_id, number, customer_id, identity_id, kind, ground, status, details,"
                   " repeated, received_at, verified_at, due_at, paused_days, extended_days, extension_reason, outcome_reason,"
                   " subject_hash, export_path, export_state, export_progress, created_at)"
                   " VALUES (1, ?, 1, 1, ?, ?, 'verified', '{}', 0, ?, ?, ?, 0, 0, '', '', '', '', '', 0, ?)",
                   [(1, "export", "", ts, ts, "2026-12-30 00:00:00", ts), (2, "delete", "purpose_done", ts, ts, "2026-12-30 00:00:00", ts)])
    db.commit()
    db.execute("ANALYZE")
    db.close()


def _cpu(pid: int) -> float:
    """User + system CPU seconds of the server process so far (the work, whatever the machine's load)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


async def _round(template: Path, template_files: Path, work: Path) -> tuple[float, float, float, float, float]:
    shutil.copy(template, work / "incs.db")
    shutil.copytree(template_files, work / "attachments")
    server = ServerProcess(work, f"sqlite+aiosqlite:///{work / 'incs.db'}")
    try:
        await server.wait_ready()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            csrf = await login(http, server.url, "agent@bench.example.com")
            await asyncio.sleep(1.0)  # let start-up settle before the idle reading
            idle = _rss(server.proc.pid, "VmRSS")
            Path(f"/proc/{server.proc.pid}/clear_refs").write_text("5")
            cpu = _cpu(server.proc.pid)
            began = time.perf_counter()
            async with http.post(f"{server.url}/workbench/rights/1/action", data={"action": "export", "csrf_token": csrf},
                                 headers={"Accept": "application/json"}) as resp:
                assert resp.status == 200, await resp.text()
            db = connect_sqlite(work / "incs.db")
            while (state := db.execute("SELECT export_state FROM rights_requests WHERE id = 1").fetchone()[0]) != "ready":  # noqa: ASYNC110
                if state == "failed" or server.proc.poll() is not None:
                    raise RuntimeError(f"export failed; see {work / 'server.log'}")
                await asyncio.sleep(0.005)
            export_s = time.perf_counter() - began
            export_cpu = _cpu(server.proc.pid) - cpu
            peak = _rss(server.proc.pid, "VmHWM") - idle
            cpu = _cpu(server.proc.pid)
            began = time.perf_counter()
            async with http.post(f"{server.url}/workbench/rights/2/action", data={"action": "erase", "csrf_token": csrf},
                                 headers={"Accept": "application/json"}) as resp:
                assert resp.status == 200, await resp.text()
            delete_s = time.perf_counter() - began
            delete_cpu = _cpu(server.proc.pid) - cpu
            left = db.execute("SELECT count(*) FROM messages WHERE conversation_id = 1").fetchone()[0]
            others = db.execute("SELECT count(*) FROM messages").fetchone()[0]
            assert left == 0 and others == TOTAL - MINE, (left, others)
            db.close()
        return export_s, delete_s, peak / 2**20, export_cpu, delete_cpu
    finally:
        server.stop()


def _figures(name: str, values: list[float], unit: str) -> str:
    ordered = sorted(values)
    return f"{name}: min {ordered[0]:.2f} {unit}, median {ordered[len(ordered) // 2]:.2f} {unit}, max {ordered[-1]:.2f} {unit}"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        template = root / "template.db"
        files = root / "template-data"
        started = time.perf_counter()
        await _prepare(f"sqlite+aiosqlite:///{template}")
        _seed(template, files)
        print(f"seeded {TOTAL:,} messages ({MINE:,} and {FILES} files of one customer) in {time.perf_counter() - started:.0f} s")
        exports, deletes, peaks, export_cpus, delete_cpus = [], [], [], [], []
        for n in range(ROUNDS):
            work = root / f"round{n}"
            work.mkdir()
            load = os.getloadavg()
            export_s, delete_s, peak, export_cpu, delete_cpu = await _round(template, files / "attachments", work)
            export_cpus.append(export_cpu)
            delete_cpus.append(delete_cpu)
            exports.append(export_s)
            deletes.append(delete_s)
            peaks.append(peak)
            print(f"round {n + 1}: export {export_s:.2f} s (server CPU {export_cpu:.2f} s), deletion {delete_s:.2f} s"
                  f" (server CPU {delete_cpu:.2f} s), export peak +{peak:.0f} MB"
                  f" (load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})", flush=True)
            shutil.rmtree(work)
        print(_figures("export", exports, "s") + "  (target < 2 s)")
        print(_figures("deletion", deletes, "s") + "  (target < 2 s)")
        print(_figures("export peak memory above idle", peaks, "MB") + "  (target < 100 MB)")
        print(_figures("server CPU for the export", export_cpus, "s") + ", " + _figures("for the deletion", delete_cpus, "s"))
