"""The embeddable widget in a real browser: the snippet from the admin page on a plain HTML page served from
another port (with its own strict CSP) opens the chat and exchanges messages with an agent; unread badge,
pre-chat name, agent name, typing both ways, read receipt, resolved line, brand colour."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.browser.helpers import agent_page, shop_site
from tests.conftest import Server, free_port
from tests.utils.factories import OrgWithAdmin

HOST_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Plain shop page</h1>{snippet}</body></html>"""


@pytest.fixture
async def host_site(web_server: Server) -> AsyncIterator[tuple[list[str], str]]:
    snippet: list[str] = [""]
    port = free_port()
    runner = await shop_site(web_server.url, lambda: HOST_PAGE.format(snippet=snippet[0]), port)
    yield snippet, f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def test_widget_snippet_on_another_site_chats_with_an_agent(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin, host_site: tuple[list[str], str]
) -> None:
    snippet, host_url = host_site
    agent = await agent_page(browser, web_server.url, web_demo.admin.email)
    await agent.get_by_role("link", name="Chat widget").click()
    await agent.fill("#brand-color", "#0a7a3c")
    await agent.get_by_label("Ask for the visitor's name before the first message").check()
    await agent.get_by_role("button", name="Save").click()
    code = await agent.locator("#widget-snippet").input_value()
    assert 'data-org="demo"' in code and code.startswith("<script src=") and code.count("\n") == 0
    snippet[0] = code.replace("http://127.0.0.1:8080", web_server.url)

    errors: list[str] = []
    shop = await (await browser.new_context()).new_page()
    shop.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await shop.goto(host_url)
    launcher = shop.get_by_role("button", name="Chat with us")
    await expect(launcher).to_have_css("background-color", "rgb(10, 122, 60)")
    await launcher.click()
    chat = shop.frame_locator("#incs-widget iframe")
    await expect(chat.locator("#chat-welcome")).to_contain_text("Demo Company")  # greeting before the first message
    await expect(chat.locator(".chat-head")).to_have_css("background-color", "rgb(10, 122, 60)")
    await chat.get_by_label("Your name").fill("Lin")
    await chat.locator("#chat-input").fill("Do you ship to Norway?")
    await chat.locator("#chat-send").click()
    await expect(chat.locator(".chat-log .msg-in").first).to_contain_text("Do you ship to Norway?")

    await agent.goto(web_server.url + "/workbench")
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    await expect(agent.locator("h1")).to_contain_text("Lin")
    await expect(chat.locator(".seen")).to_have_text("Seen")  # read receipt
    await chat.locator("#chat-input").press_sequentially("and Sweden")
    await expect(agent.locator("#customer-typing")).to_be_visible()
    await agent.locator("#reply-text").press_sequentially("Yes, we do")
    await expect(chat.locator("#chat-typing")).to_be_visible()
    await agent.click("#reply-send")
    reply = chat.locator(".chat-log .msg-out", has_text="Yes, we do")
    await expect(reply).to_contain_text("demo admin")  # the agent's name on the reply
    await expect(reply.locator(".avatar")).to_have_text("DA")  # and an avatar with the initials

    await launcher.click()  # closed: a new reply shows on the bubble's badge
    await agent.fill("#reply-text", "Anything else?")
    await agent.click("#reply-send")
    await expect(shop.locator("#incs-unread")).to_have_text("1")
    await expect(shop.get_by_role("button", name=re.compile(r"Chat with us \(1\)"))).to_be_visible()
    await launcher.click()
    await expect(shop.locator("#incs-unread")).to_be_hidden()
    await agent.select_option("#status", "resolved")
    await agent.click("#status-form button[type=submit]")
    await expect(chat.locator(".system-line")).to_have_text("Conversation resolved")
    assert not [e for e in errors if "Content Security Policy" in e], errors
