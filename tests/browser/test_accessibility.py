"""axe-core (vendored in tests/browser/vendor) in Chromium: no critical or serious violation on the chat and the
main workbench pages, in English and Chinese."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser.helpers import agent_page, customer_page
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")


async def serious_violations(page: Page) -> list[str]:
    await page.evaluate(AXE)  # through the DevTools protocol: the page's own CSP stays as it is
    result: dict[str, Any] = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] for n in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("critical", "serious")
    ]


async def test_chat_and_workbench_pages_have_no_serious_accessibility_violations(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    base = web_server.url
    found: dict[str, list[str]] = {}
    for locale in ("en-US", "zh-CN"):
        fresh = await (await browser.new_context(locale=locale)).new_page()
        await fresh.goto(f"{base}/chat")
        found[f"chat before the first message ({locale})"] = await serious_violations(fresh)
        customer = await customer_page(browser, base, "I need help with my order", locale=locale)
        await expect(customer.locator("#chat-log .brand-card")).to_be_visible()  # the conversation's card (it replaces the greeting)
        found[f"chat with messages ({locale})"] = await serious_violations(customer)
        login = await (await browser.new_context(locale=locale)).new_page()
        await login.goto(f"{base}/workbench/login")
        found[f"login ({locale})"] = await serious_violations(login)
        agent = await agent_page(browser, base, web_demo.admin.email, locale=locale)
        found[f"inbox ({locale})"] = await serious_violations(agent)
        await agent.click("#inbox a[href^='/workbench/conversations/']")
        found[f"conversation ({locale})"] = await serious_violations(agent)
        for path in ("/workbench/search?q=order", "/workbench/notifications", "/workbench/canned", "/workbench/widget",
                     "/workbench/verification/locks"):
            await agent.goto(base + path)
            found[f"{path} ({locale})"] = await serious_violations(agent)
        await agent.keyboard.press("?")
        found[f"shortcuts overlay ({locale})"] = await serious_violations(agent)
    assert {page: v for page, v in found.items() if v} == {}
    # The check itself works: a control without a name on the same page is reported.
    await agent.evaluate("document.body.appendChild(Object.assign(document.createElement('button'), {id: 'nameless'}))")
    assert any(v.startswith("button-name") for v in await serious_violations(agent))
