"""In a real browser: customer and agent side by side; messages appear live both ways, without reload."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.conftest import Server
from tests.utils.factories import PASSWORD, OrgWithAdmin


async def _agent_login(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/workbench/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#inbox")).to_be_visible()


async def test_customer_and_agent_side_by_side(browser: Browser, web_server: Server, web_demo: OrgWithAdmin) -> None:
    customer = await (await browser.new_context()).new_page()
    agent = await (await browser.new_context()).new_page()
    base = web_server.url

    await customer.goto(f"{base}/chat")
    await expect(customer.locator("#chat-status")).to_have_text("online")
    await customer.fill("#chat-input", "Hello from the browser <script>alert(1)</script>")
    await customer.click("#chat-send")
    # First contact shows the brand card and the consent notice; pressing "I agree" records consent.
    await expect(customer.locator(".brand-card .brand")).to_have_text("Demo Company")
    await customer.get_by_role("button", name="I agree").click()
    await expect(customer.locator(".chat-log")).to_contain_text("your consent is recorded")

    await _agent_login(agent, base, web_demo.admin.email)
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    thread = agent.locator("#messages")
    # The customer's text, script tag included, is shown as text, not run.
    await expect(thread).to_contain_text("Hello from the browser <script>alert(1)</script>")

    await agent.fill("#reply-text", "Hi! How can I help?")
    await agent.click("#reply-send")
    await expect(customer.locator(".chat-log")).to_contain_text("Hi! How can I help?")
    await expect(thread.locator(".msg-out .state").last).to_have_text("sent")

    # And the other way, live on the agent's open page.
    await customer.fill("#chat-input", "My order number is 4711")
    await customer.click("#chat-send")
    await expect(thread).to_contain_text("My order number is 4711")
    dialogs: list[str] = []
    agent.on("dialog", lambda d: dialogs.append(d.message))
    customer.on("dialog", lambda d: dialogs.append(d.message))
    assert dialogs == []
    await customer.screenshot(path=str(web_server.ctx.settings.data_dir / "customer.png"))
    await agent.screenshot(path=str(web_server.ctx.settings.data_dir / "agent.png"))


async def test_a_message_typed_while_reconnecting_is_sent_once_when_the_socket_is_back(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    from sqlalchemy import func, select

    from bot.core.conversations.models import Message
    from bot.web import close_sockets

    customer = await (await browser.new_context()).new_page()
    await customer.goto(f"{web_server.url}/chat")
    await expect(customer.locator("#chat-status")).to_have_text("online")
    await customer.fill("#chat-input", "before the drop")
    await customer.click("#chat-send")
    await expect(customer.locator(".chat-log")).to_contain_text("before the drop")
    await close_sockets(web_server.app)  # the connection drops (a restart, a flaky network)
    await expect(customer.locator("#chat-status")).to_have_text("reconnecting…")
    await customer.fill("#chat-input", "typed while offline")
    await customer.click("#chat-send")
    await expect(customer.locator("#chat-status")).to_have_text("online")
    await expect(customer.locator(".chat-log")).to_contain_text("typed while offline")
    async with web_server.ctx.factory() as session:
        count = await session.scalar(select(func.count()).select_from(Message).where(Message.text == "typed while offline"))
    assert count == 1
