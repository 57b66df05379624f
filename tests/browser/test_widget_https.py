"""The widget across sites over HTTPS, as it runs in production: the shop page at https://localhost:<port> embeds
the chat served at https://127.0.0.1:<port> (another site: different hosts), both with a self-signed certificate
that Chromium is told to accept. Inside the frame the chat's one cookie is `Secure; SameSite=None; Partitioned`
(server.secure_cookies): the browser sends it with the chat's requests and its websocket, and keeps it for that
shop, so the visitor's conversation is there again after a reload."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Response, expect

from tests.browser.conftest import chromium, close_pages
from tests.browser.helpers import agent_page, shop_site
from tests.conftest import Server, free_port, make_settings, start_server
from tests.utils.factories import OrgWithAdmin, make_org

HOST_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>A shop on another site</h1>{snippet}</body></html>"""


def _tls(tmp_path: Path) -> ssl.SSLContext:
    """A self-signed certificate for localhost and 127.0.0.1 (Debian's openssl, as an operator would make one)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments
        ["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
async def tls_browser() -> AsyncIterator[Browser]:
    async with chromium("--ignore-certificate-errors") as browser:
        yield browser


@pytest.fixture
async def sites(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[Server, str, str, list[str]]]:
    """The support app over HTTPS (its own site) and a shop page over HTTPS on another site."""
    context = _tls(tmp_path)
    shop_port, chat_port = free_port(), free_port()
    shop_origin, chat_origin = f"https://localhost:{shop_port}", f"https://127.0.0.1:{chat_port}"
    settings = make_settings(sqlite_url, tmp_path / "data", server={"secure_cookies": True, "public_url": chat_origin},
                             webchat={"embed_origins": [shop_origin]})
    server = await start_server(settings)
    chat_site = web.TCPSite(server.runner, "127.0.0.1", chat_port, ssl_context=context)  # TLS, as behind a terminating proxy
    await chat_site.start()
    snippet: list[str] = [""]
    shop_runner = await shop_site(chat_origin, lambda: HOST_PAGE.format(snippet=snippet[0]), shop_port, context)
    yield server, chat_origin, shop_origin + "/", snippet
    await close_pages()
    await shop_runner.cleanup()
    await server.stop()


async def test_the_widget_on_another_site_over_https_keeps_its_cookie_and_chats_with_an_agent(
    tls_browser: Browser, sites: tuple[Server, str, str, list[str]]
) -> None:
    server, chat_origin, shop_url, snippet = sites
    demo: OrgWithAdmin = await make_org(server.ctx.factory, slug="demo")
    snippet[0] = f'<script src="{chat_origin}/static/widget.js" data-org="demo" async></script>'
    frames: list[Response] = []

    def on_response(response: Response) -> None:
        if response.url.startswith(f"{chat_origin}/chat?embed=1"):
            frames.append(response)

    shop = await (await tls_browser.new_context()).new_page()
    shop.on("response", on_response)
    await shop.goto(shop_url)
    launcher = shop.get_by_role("button", name="Chat with us")
    await launcher.click()
    chat = shop.frame_locator("#incs-widget iframe")
    await expect(chat.locator("#chat-status")).to_have_attribute("data-i18n", "online")  # the socket carried the cookie
    await chat.locator("#chat-input").fill("Is this shop on HTTPS?")
    await chat.locator("#chat-send").click()
    await expect(chat.locator(".chat-log .msg-in").first).to_contain_text("Is this shop on HTTPS?")
    cookies = [await r.header_value("set-cookie") or "" for r in frames]
    assert any("SameSite=None" in c and "Secure" in c and "Partitioned" in c and "HttpOnly" in c for c in cookies), cookies

    agent = await agent_page(tls_browser, chat_origin, demo.admin.email)
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    await expect(agent.locator("#messages")).to_contain_text("Is this shop on HTTPS?")
    await agent.fill("#reply-text", "Yes, end to end")
    await agent.click("#reply-send")
    await expect(chat.locator(".chat-log .msg-out", has_text="Yes, end to end")).to_be_visible()

    await shop.reload()  # the partitioned cookie was kept for this shop: the same visitor, the same conversation
    await shop.get_by_role("button", name="Chat with us").click()
    await expect(chat.locator(".chat-log")).to_contain_text("Is this shop on HTTPS?")
    await expect(chat.locator(".chat-log")).to_contain_text("Yes, end to end")
