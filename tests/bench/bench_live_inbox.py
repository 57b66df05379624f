"""Issue 14 benchmark: live inbox latency, from a customer's send to the row moving to the top of an agent's open
inbox page in Chromium, at 200 messages/s (target p95 < 100 ms).

Three processes: the `incs run` server; a load generator (this module with --generate) whose web chat visitors
send 200 msg/s in all, one of them a probe every 100 ms; and this process driving headless Chromium with the
inbox open, where a MutationObserver stamps the moment a probe's row reaches the top. Both stamp wall-clock
time on one machine. Three rounds; min/median/max of each round's p95, with the load.
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
from pathlib import Path

import aiohttp

from tests.bench.common import ServerProcess, cpu_seconds, percentile, prepare_db
from tests.utils.factories import PASSWORD, login

RATE = float(os.environ.get("BENCH_INBOX_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_INBOX_SECONDS", "10"))
VISITORS = 20  # each conversation has its row on the first inbox page
PROBE_EVERY = 0.1
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
OBSERVER = """() => {
  window.__probes = {};
  const rows = document.getElementById("inbox-rows");
  new MutationObserver(() => {
    const preview = rows.querySelector("tr .preview");
    const text = preview ? preview.textContent : "";
    if (text.startsWith("probe-") && !(text in window.__probes)) window.__probes[text] = performance.timeOrigin + performance.now();
  }).observe(rows, { childList: true, subtree: true, characterData: true });
}"""


async def _visitor(base: str, index: int) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(f"{base}/chat"):
        pass
    ws = await http.ws_connect(f"{base}/chat/ws")
    await ws.receive_json()
    await ws.send_json({"type": "text", "text": f"warm-up {index}", "client_id": "warm"})
    return http, ws


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


async def generate(base: str) -> None:
    """The load generator process: warm up, say "ready", wait for "go", send, print the probes' send times."""
    visitors = [await _visitor(base, i) for i in range(VISITORS)]
    drains = [asyncio.create_task(_drain(ws)) for _, ws in visitors]
    await asyncio.sleep(1.0)
    loop = asyncio.get_running_loop()
    for _round in range(ROUNDS):
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        sent: dict[str, float] = {}
        background = RATE - 1 / PROBE_EVERY
        interval = (VISITORS - 1) / background
        began = time.perf_counter()
        counter = 0

        async def background_visitor(ws: aiohttp.ClientWebSocketResponse, offset: float) -> None:
            nonlocal counter
            n = 0
            while (due := began + offset + n * interval) < began + SECONDS:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                counter += 1
                await ws.send_json({"type": "text", "text": f"load {counter}", "client_id": f"l{counter}"})
                n += 1

        async def probe(ws: aiohttp.ClientWebSocketResponse) -> None:
            n = 0
            while (due := began + n * PROBE_EVERY) < began + SECONDS:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                key = f"probe-{_round}-{n}"
                sent[key] = time.time() * 1000
                await ws.send_json({"type": "text", "text": key, "client_id": key})
                n += 1

        tasks = [probe(visitors[0][1])] + [
            background_visitor(ws, i * interval / (VISITORS - 1)) for i, (_, ws) in enumerate(visitors[1:])
        ]
        await asyncio.gather(*tasks)
        print(json.dumps({"sent": sent, "messages": counter + len(sent), "seconds": time.perf_counter() - began}), flush=True)
    for task in drains:
        task.cancel()
    for http, ws in visitors:
        await ws.close()
        await http.close()


async def _listen(base: str, seen: dict[str, float]) -> None:
    """An agent's inbox socket without a browser: splits the server's share of the latency from the page's."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, base, "agent@bench.example.com")
        async with http.ws_connect(f"{base}/workbench/ws") as ws:
            async for frame in ws:
                event = json.loads(frame.data)
                text = event.get("text", "")
                if event.get("type") == "inbox" and text.startswith("probe-") and text not in seen:
                    seen[text] = time.time() * 1000


async def main() -> None:
    from playwright.async_api import async_playwright

    from tests.browser.conftest import ARGS, CHROMIUM

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db_url = f"sqlite+aiosqlite:///{data / 'incs.db'}"
        await prepare_db(db_url)
        server = ServerProcess(data, db_url)
        generator = None
        try:
            await server.wait_ready()
            generator = subprocess.Popen(  # noqa: S603, ASYNC220 - our own module, started once
                [sys.executable, "-m", "tests.bench.bench_live_inbox", "--generate", server.url],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            assert generator.stdin is not None and generator.stdout is not None
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                page = await browser.new_page()
                await page.goto(f"{server.url}/workbench/login")
                await page.fill("input[name=email]", "agent@bench.example.com")
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                p95s: list[float] = []
                for n in range(ROUNDS):
                    assert (await asyncio.to_thread(generator.stdout.readline)).strip() == "ready"
                    await page.goto(f"{server.url}/workbench")  # every visitor's row is on the page
                    await page.wait_for_function("document.querySelectorAll('#inbox-rows tr[data-conversation]').length >= 20")
                    await page.evaluate(OBSERVER)
                    await asyncio.sleep(0.5)  # the page's socket is open
                    socket_seen: dict[str, float] = {}
                    listener = asyncio.create_task(_listen(server.url, socket_seen))
                    await asyncio.sleep(0.3)
                    cpu_before = cpu_seconds(server.pid)
                    generator.stdin.write("go\n")
                    generator.stdin.flush()
                    report = json.loads(await asyncio.to_thread(generator.stdout.readline))
                    cpu_ms = (cpu_seconds(server.pid) - cpu_before) * 1000 / report["messages"]
                    await asyncio.sleep(0.5)
                    listener.cancel()
                    seen: dict[str, float] = await page.evaluate("window.__probes")
                    latencies = [seen[k] - t for k, t in report["sent"].items() if k in seen]
                    if not latencies:
                        raise RuntimeError("no probe reached the top of the inbox page")
                    p95s.append(percentile(latencies, 95))
                    print(f"  round {n + 1}: {report['messages'] / report['seconds']:.0f} msg/s sent, {len(latencies)}/"
                          f"{len(report['sent'])} probes seen at the top: p50 {percentile(latencies, 50):.1f} ms, "
                          f"p95 {p95s[-1]:.1f} ms, max {max(latencies):.1f} ms; server CPU {cpu_ms:.2f} ms per message; "
                          f"load {os.getloadavg()[0]:.2f}")
                    on_socket = [socket_seen[k] - t for k, t in report["sent"].items() if k in socket_seen]
                    if on_socket:
                        print(f"    (the same probes on an agent's websocket in this process: p50 {percentile(on_socket, 50):.1f} ms, "
                              f"p95 {percentile(on_socket, 95):.1f} ms)")
                await browser.close()
        finally:
            if generator is not None:
                generator.kill()
            server.stop()
    print(f"live inbox, customer send -> row at the top of an open inbox at {RATE:.0f} msg/s: p95 min/median/max "
          f"{min(p95s):.1f} / {statistics.median(p95s):.1f} / {max(p95s):.1f} ms (target p95 < 100 ms); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__" and sys.argv[1:2] == ["--generate"]:
    asyncio.run(generate(sys.argv[2]))
