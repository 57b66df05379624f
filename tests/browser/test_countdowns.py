"""In a real browser: SLA countdowns on the work-order list and the inbox turn red when the clock passes the
at-risk point, without a reload (ticking from the stored due time and the server's clock)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from bot.core.common import clock
from tests.browser.conftest import close_pages
from tests.conftest import start_server
from tests.utils.factories import PASSWORD, make_org
from tests.utils.webchat import Visitor
from tests.utils.work_orders import sla_settings

T0 = datetime(2026, 3, 2, 9, 0)
AT_RISK = timedelta(minutes=192)  # 80% of the 240-minute first-response and urgent resolution targets


async def _login(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/workbench/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#inbox")).to_be_visible()


async def _turns_red_in_place(page: Page, url: str, selector: str) -> None:
    await page.goto(url)
    timer = page.locator(selector)
    await expect(timer).to_have_attribute("data-state", "amber")  # more than half used, not yet at risk
    await page.evaluate("window.__notReloaded = true")
    await expect(timer).to_have_attribute("data-state", "red", timeout=20_000)
    await expect(timer).to_have_class("countdown sla-red")
    assert await page.evaluate("window.__notReloaded === true")


async def test_countdowns_turn_red_without_reload(browser: Browser, sqlite_url: str, tmp_path: Path) -> None:
    clock.set_clock(lambda: T0)
    server = await start_server(sla_settings(sqlite_url, tmp_path / "data"))
    demo = await make_org(server.ctx.factory)
    visitor = await Visitor(server.url).open()
    try:
        ack = await visitor.say("Where is my parcel?")
        conversation_id = ack["message"]["conversation_id"]
        page = await (await browser.new_context()).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        await _login(page, server.url, demo.admin.email)
        await page.goto(f"{server.url}/workbench/conversations/{conversation_id}")
        await page.select_option(".create-work-order select[name=priority]", "urgent")
        await page.fill("textarea[name=description]", "Trace the parcel")
        await page.click(".create-work-order button")
        await expect(page.locator("h1")).to_contain_text("WO-000001")

        clock.set_clock(lambda: T0 + AT_RISK - timedelta(seconds=3))
        await _turns_red_in_place(page, f"{server.url}/workbench/work-orders", "tr[data-number='1'] .countdown")
        await _turns_red_in_place(page, f"{server.url}/workbench", f"tr[data-conversation='{conversation_id}'] .countdown")
        clock.set_clock(lambda: T0 + timedelta(minutes=241) - timedelta(seconds=2))
        await page.goto(f"{server.url}/workbench/work-orders")
        timer = page.locator("tr[data-number='1'] .countdown")
        await expect(timer).to_have_attribute("data-state", "overdue", timeout=20_000)
        await expect(timer).to_have_text("overdue 0 m")
        # In Chinese the ticking text is Chinese too (the page hands the script its words).
        chinese = await (await browser.new_context(locale="zh-CN")).new_page()
        await _login(chinese, server.url, demo.admin.email)
        await chinese.goto(f"{server.url}/workbench/work-orders")
        await expect(chinese.locator("tr[data-number='1'] .countdown")).to_have_text("已逾期 0 分")
        assert errors == []  # nothing refused by the CSP, no script errors
    finally:
        await visitor.close()
        await close_pages()
        await server.stop()
