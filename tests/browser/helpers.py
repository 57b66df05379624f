"""Shared steps of the browser tests: sign an agent in, start a customer's chat, a real PNG."""

from __future__ import annotations

import ssl
import struct
import zlib
from collections.abc import Callable

from aiohttp import web
from playwright.async_api import Browser, Page, expect

from tests.utils.factories import PASSWORD


async def agent_page(browser: Browser, base: str, email: str, **context: object) -> Page:
    page = await (await browser.new_context(**context)).new_page()  # type: ignore[arg-type]
    await page.goto(f"{base}/workbench/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#inbox")).to_be_visible()
    # Fully loaded before a test listens for loads: on a busy machine the sign-in redirect's own "load" event could
    # come after the inbox showed, and read as a reload (test_live_inbox failed so, twice).
    await page.wait_for_load_state("load")
    return page


async def customer_page(browser: Browser, base: str, first: str = "Hello", **context: object) -> Page:
    page = await (await browser.new_context(**context)).new_page()  # type: ignore[arg-type]
    await page.goto(f"{base}/chat")
    await expect(page.locator("#chat-status")).to_have_attribute("data-i18n", "online")
    if first:
        await page.fill("#chat-input", first)
        await page.click("#chat-send")
        await expect(page.locator(".chat-log .msg-in").first).to_be_visible()
    return page


def png(width: int = 4, height: int = 3) -> bytes:
    """A valid RGB PNG, so the browser can decode a thumbnail."""
    raw = b"".join(b"\x00" + b"\xcc\x22\x22" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


CONTRAST_JS = """
(node) => {
  function rgb(s) { return s.match(/[\\d.]+/g).slice(0, 3).map(Number); }
  function lum(c) { return c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
                          .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0); }
  let bg = node;
  while (bg && getComputedStyle(bg).backgroundColor.match(/rgba\\(0, 0, 0, 0\\)|transparent/)) bg = bg.parentElement;
  const a = lum(rgb(getComputedStyle(node).color)), b = lum(rgb(getComputedStyle(bg).backgroundColor));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
"""


async def shop_site(chat_origin: str, html: Callable[[], str], port: int, ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    """A plain page on another origin (a shop that embeds the widget) whose strict CSP allows only the support host's
    script and frame; `html` is read on every request, so a test can put the snippet in after the start."""

    async def page(_request: web.Request) -> web.Response:
        csp = f"default-src 'self'; script-src {chat_origin}; frame-src {chat_origin}; style-src 'self'"
        return web.Response(text=html(), content_type="text/html", headers={"Content-Security-Policy": csp})

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
    return runner
