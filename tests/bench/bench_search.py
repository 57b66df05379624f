"""Issue 14 benchmark: search p95 over 1,000,000 messages on SQLite (target < 100 ms).

A real `incs run` server in its own process on a database of 100,000 customers, 100,000 conversations and
1,000,000 messages (written through the search triggers, as the app writes them); this process is the load
generator: an agent's search page requests (full page: query, render, audit row) for common, rare, two-word
and customer-name queries, one at a time. Three rounds; min/median/max of each round's p95, with the load.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import aiohttp

from bot.core.common import cjk
from tests.bench.common import ServerProcess, percentile, prepare_db
from tests.utils.factories import login

MESSAGES = int(os.environ.get("BENCH_SEARCH_MESSAGES", "1000000"))
PER_CONVERSATION = 10
REQUESTS = int(os.environ.get("BENCH_SEARCH_REQUESTS", "200"))
ROUNDS = 3
VOCABULARY = [f"w{n}" for n in range(20_000)]  # Zipf-like use below: a few very common words, a long tail
# One message in twenty is Chinese, written without spaces as Chinese is: found through the CJK pieces (migration 0850).
CHINESE = ["退款", "订单", "物流", "发货", "快递", "地址", "客服", "价格", "优惠", "发票", "账号", "密码", "登录", "支付",
           "银行", "退货", "换货", "质量", "尺寸", "颜色", "库存", "预约", "取消", "投诉", "感谢", "问题", "时间", "电话"]
NAMES = ["Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Edsger", "Radia"]


def _load(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.create_function(cjk.SQL_FUNCTION, 1, cjk.index_text, deterministic=True)  # as every app connection has it
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    org_id = conn.execute("SELECT id FROM organizations WHERE slug='demo'").fetchone()[0]
    rng = random.Random(14)
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(VOCABULARY))))
    start = datetime(2026, 1, 1)
    conversations = MESSAGES // PER_CONVERSATION
    batch = 5_000
    for first in range(1, conversations + 1, batch):
        ids = range(first, min(first + batch, conversations + 1))
        stamp = {i: start + timedelta(seconds=i * 7) for i in ids}
        conn.executemany(
            "INSERT INTO customers (id, org_id, name, email, locale, status, first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?)",
            [(i, org_id, f"{rng.choice(NAMES)} {i}", f"c{i}@example.com", "en", "active", stamp[i], stamp[i]) for i in ids],
        )
        conn.executemany(
            "INSERT INTO channel_identities (id, org_id, customer_id, channel, external_id, display_name, reachable, flow_state,"
            " created_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(i, org_id, i, "webchat", f"bench-{i}", "", 1, "{}", stamp[i], stamp[i]) for i in ids],
        )
        conn.executemany(
            "INSERT INTO conversations (id, org_id, customer_id, identity_id, channel, status, unread_count, waiting_since,"
            " last_message_preview, created_at, last_activity_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(i, org_id, i, i, "webchat", rng.choice(["open", "pending", "resolved"]), rng.randint(0, 2), stamp[i],
              "preview", stamp[i], stamp[i]) for i in ids],
        )
        rows = []
        for i in ids:
            for m in range(PER_CONVERSATION):
                if m == 5 and i % 2 == 0:  # one message in twenty
                    text = "我想" + "".join(rng.choices(CHINESE, k=5)) + "，" + "".join(rng.choices(CHINESE, k=4))
                else:
                    text = " ".join(rng.choices(VOCABULARY, cum_weights=cumulative, k=12))
                rows.append((org_id, i, i, "in" if m % 2 == 0 else "out", "customer" if m % 2 == 0 else "agent", "text", text,
                             "received", 0, stamp[i] + timedelta(seconds=m)))
        conn.executemany(
            "INSERT INTO messages (org_id, conversation_id, identity_id, direction, author_type, kind, text, delivery_state,"
            " edited, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.commit()
    conn.execute("INSERT INTO search_messages(search_messages) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def _queries(rng: random.Random) -> list[str]:
    kinds = [
        lambda: rng.choice(VOCABULARY[:20]),  # in a large share of all messages
        lambda: rng.choice(VOCABULARY[1000:20000]),  # rare
        lambda: f"{rng.choice(VOCABULARY[:200])} {rng.choice(VOCABULARY[200:5000])}",  # two words
        lambda: rng.choice(NAMES),  # customers by name (and messages)
        lambda: f"c{rng.randint(1, MESSAGES // PER_CONVERSATION)}@example.com",  # one customer by email
        lambda: rng.choice(CHINESE),  # a Chinese word inside Chinese sentences
    ]
    return [kinds[n % len(kinds)]() for n in range(REQUESTS)]


async def _round(base: str, rng: random.Random) -> list[float]:
    timings: list[float] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, base, "agent@bench.example.com")
        for query in _queries(rng):
            began = time.perf_counter()
            async with http.get(f"{base}/workbench/search?q={quote(query)}") as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            timings.append(time.perf_counter() - began)
    return timings


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db_path = data / "incs.db"
        db_url = f"sqlite+aiosqlite:///{db_path}"
        await prepare_db(db_url)
        began = time.perf_counter()
        await asyncio.to_thread(_load, db_path)
        print(f"  (loaded {MESSAGES:,} messages through the search triggers in {time.perf_counter() - began:.0f} s)")
        server = ServerProcess(data, db_url)
        try:
            await server.wait_ready()
            rng = random.Random(1)
            await _round(server.url, rng)  # warm the page cache
            p95s, p50s = [], []
            for n in range(ROUNDS):
                timings = await _round(server.url, rng)
                p50s.append(percentile(timings, 50) * 1000)
                p95s.append(percentile(timings, 95) * 1000)
                print(f"  round {n + 1}: p50 {p50s[-1]:.1f} ms, p95 {p95s[-1]:.1f} ms, max {max(timings) * 1000:.1f} ms; "
                      f"load {os.getloadavg()[0]:.2f}")
        finally:
            server.stop()
    print(f"search page over {MESSAGES:,} messages ({REQUESTS} requests per round): p95 min/median/max "
          f"{min(p95s):.1f} / {statistics.median(p95s):.1f} / {max(p95s):.1f} ms, p50 median {statistics.median(p50s):.1f} ms "
          f"(target p95 < 100 ms); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
