"""Issue 8 benchmark: drain a 10,000-message backlog to 1,000 Telegram chats at Telegram's limits.

Three processes: the fake Bot API enforcing Telegram's limits (30/s overall, 1/s per chat, 429 with
retry_after beyond them), `incs run` whose outbox dispatcher does the sending, and this process, which
prepares the database and enqueues the backlog (ten broadcasts to the same 1,000 chats, in one transaction).
Reported per round: drain time from the backlog's commit to the last accepted send against the theoretical 10,000/30 s,
failed rows, duplicates (sends per item above 1, and per chat and text at the fake), sends refused by the
fake, and the server process's CPU while it paces (an upper bound for the dispatcher's).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.core.delivery.models import OutboxItem
from bot.core.storage.db import create_engine, session_factory
from bot.migrate import upgrade_async
from tests.bench.common import ServerProcess, free_port
from tests.fakes.telegram_api import TOKEN
from tests.utils.chats import broadcasts, make_chats, outbox_states
from tests.utils.factories import make_org

MESSAGES = int(os.environ.get("BENCH_DELIVERY_MESSAGES", "10000"))
CHATS = int(os.environ.get("BENCH_DELIVERY_CHATS", "1000"))
ROUNDS = int(os.environ.get("BENCH_DELIVERY_ROUNDS", "3"))
RATE = 30.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FakeProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(  # noqa: S603 - our own fake
            [sys.executable, "-m", "tests.fakes.telegram_api", str(self.port), "--limits"], stdout=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # the fake prints its URL once it listens

    async def stats(self, times: bool = False) -> dict[str, Any]:
        params = {"times": "1"} if times else {}
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/_stats", params=params) as resp:
            return dict(await resp.json())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def one_round(workdir: Path) -> dict[str, Any]:
    data_dir = workdir
    data_dir.mkdir(parents=True)
    db_url = f"sqlite+aiosqlite:///{data_dir / 'incs.db'}"
    await upgrade_async(db_url)
    engine = create_engine(db_url)
    factory = session_factory(engine)
    demo = await make_org(factory, slug="demo")
    conversations = await make_chats(factory, demo.org.id, "telegram", [str(500_000 + n) for n in range(CHATS)])
    fake = FakeProcess()
    server = ServerProcess(
        data_dir,
        db_url,
        {
            "INCS_CHANNELS__TELEGRAM__TOKEN": TOKEN,
            "INCS_CHANNELS__TELEGRAM__API_BASE": fake.url,
            "INCS_CHANNELS__TELEGRAM__MODE": "webhook",
            "INCS_CHANNELS__TELEGRAM__WEBHOOK_SECRET": "bench-webhook-secret",
            "INCS_CHANNELS__TELEGRAM__RATE_GLOBAL": str(RATE),
            "INCS_CHANNELS__TELEGRAM__RATE_PER_CHAT": "1",
            "INCS_CHANNELS__TELEGRAM__CHAT_BURST": "1",
        },
    )
    try:
        await server.wait_ready()
        # The backlog appears at once (one transaction), and the clock starts when it is there: the drain of a
        # backlog, not the speed of this enqueuer (it writes the thread copies one by one through the ORM, which a
        # real broadcast does in bulk) or of SQLite's busy handler between two processes.
        queued = time.monotonic()
        await broadcasts(factory, conversations, [f"notice {n}:" for n in range(MESSAGES // CHATS)])
        cpu_before, began = cpu_seconds(server.proc.pid), time.monotonic()
        enqueued = began - queued
        stats = await fake.stats()
        deadline = began + MESSAGES / RATE * 2 + 60
        while stats["accepted"] < MESSAGES and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            stats = await fake.stats()
        cpu = cpu_seconds(server.proc.pid) - cpu_before
        stats = await fake.stats(times=True)
        states = await outbox_states(factory, "telegram")
        async with factory() as session:
            sends = Counter((await session.scalars(select(OutboxItem.sends))).all())
    finally:
        server.stop()
        fake.stop()
        await engine.dispose()
    drain = (stats["last"] or time.monotonic()) - began
    if os.environ.get("BENCH_DELIVERY_DUMP"):
        Path(os.environ["BENCH_DELIVERY_DUMP"]).write_text(json.dumps({"began": began, "sends": stats["sends"]}))
    accepted = stats["times"]
    first = accepted[0] if accepted else began
    # Where the time beyond theory went: before the first send (enqueue, the server noticing), and after it, the
    # sends' lag behind an ideal 30/s timeline from the first send (a late send is lost time: Telegram's window
    # cannot be caught up on), with the biggest single steps of that lag.
    lags = [t - first - i / RATE for i, t in enumerate(accepted)]
    steps = sorted(((b - a, i) for i, (a, b) in enumerate(zip(lags, lags[1:], strict=False), 1)), reverse=True)[:5]
    return {
        "drain": drain,
        "ratio": drain / (MESSAGES / RATE),
        "enqueue": enqueued,
        "sent": states.get("sent", 0),
        "failed": states.get("failed", 0),
        "duplicates": sum(n * (k - 1) for k, n in sends.items() if k > 1) + stats["duplicates"],
        "refused": stats["refused"],
        "most_in_a_second": stats["most_in_a_second"],
        "cpu": cpu / drain,
        "startup": first - began,
        "lag": (lags[-1] if lags else 0.0) + 1 / RATE,
        "steps": ", ".join(f"{d * 1000:.0f} ms at {lags_at:.0f}s" for d, i in steps if d > 0
                           for lags_at in [accepted[i] - began]),
    }


def line(name: str, values: list[float], fmt: str) -> str:
    return f"  {name:<18} min {fmt.format(min(values))}  median {fmt.format(statistics.median(values))}  max {fmt.format(max(values))}"


async def run() -> None:
    print(f"drain: {MESSAGES} messages to {CHATS} Telegram chats at {RATE:.0f}/s (theory {MESSAGES / RATE:.1f}s), "
          f"{ROUNDS} rounds; separate processes: fake Bot API, incs run, enqueuer (this one)")
    results = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for n in range(ROUNDS):
            result = await one_round(Path(tmp) / f"round{n}")
            results.append(result)
            print(f"  round {n + 1}: drain {result['drain']:.1f}s ({result['ratio']:.3f}x theory), sent {result['sent']:.0f}, "
                  f"failed {result['failed']:.0f}, duplicates {result['duplicates']:.0f}, refused {result['refused']:.0f}, "
                  f"most in a second {result['most_in_a_second']:.0f}, server CPU {result['cpu']:.1%} of a core, "
                  f"backlog queued in {result['enqueue']:.1f}s, first send after {result['startup']:.1f}s, "
                  f"then {result['lag']:.1f}s behind 30/s "
                  f"(largest steps: {result['steps']}), "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    print(line("drain seconds", [r["drain"] for r in results], "{:.1f}"))
    print(line("x theory", [r["ratio"] for r in results], "{:.3f}"))
    print(line("server CPU/core", [r["cpu"] for r in results], "{:.1%}"))
    print(f"  failed {sum(r['failed'] for r in results):.0f}, duplicates {sum(r['duplicates'] for r in results):.0f}; "
          f"machine load (1/5/15 min) {os.getloadavg()}")


def main() -> None:
    asyncio.run(run())
