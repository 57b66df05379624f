"""In a real browser: the rights-request queue sorted by due date with coloured days-left timers, the request page,
and the monthly report's chart."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Browser, expect

from bot.core.common.clock import now
from bot.core.conversations.models import Customer
from bot.core.rights.models import RightsRequest
from bot.core.storage.db import transaction
from tests.browser.test_live_chat import _agent_login
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin

BANDS = {10: ("green", "rgb(232, 245, 233)"), 4: ("amber", "rgb(255, 248, 225)"), 1: ("red", "rgb(255, 235, 238)"),
         -2: ("overdue", "rgb(183, 28, 28)")}


async def test_queue_shows_timers_by_due_date(browser: Browser, web_server: Server, web_demo: OrgWithAdmin) -> None:
    today_end = now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    async with transaction(web_server.ctx.factory) as session:
        customer = Customer(org_id=web_demo.org.id, name="Queue Person")
        session.add(customer)
        await session.flush()
        for number, left in enumerate(BANDS, start=1):
            session.add(RightsRequest(org_id=web_demo.org.id, number=number, customer_id=customer.id, kind="export",
                                      status="in_progress", received_at=now(), verified_at=now(), details={},
                                      due_at=today_end + timedelta(days=left), closed_at=None))
        session.add(RightsRequest(org_id=web_demo.org.id, number=9, customer_id=customer.id, kind="delete", ground="unlawful",
                                  status="fulfilled", received_at=now(), verified_at=now(), due_at=today_end, closed_at=now(),
                                  details={}))
    page = await (await browser.new_context()).new_page()
    await _agent_login(page, web_server.url, web_demo.admin.email)
    await page.click("a[href='/workbench/rights']")
    timers = page.locator("#rights-queue .timer")
    await expect(timers).to_have_count(4)
    ordered = sorted(BANDS)  # the queue is sorted by due date: overdue first
    for index, left in enumerate(ordered):
        band, colour = BANDS[left]
        timer = timers.nth(index)
        await expect(timer).to_have_class(f"timer {band}")
        assert await timer.evaluate("e => getComputedStyle(e).backgroundColor") == colour
    await expect(timers.nth(0)).to_contain_text("overdue 2 d")
    await expect(timers.nth(3)).to_contain_text("10 d left")
    await page.click("text=RR-000004")
    await expect(page.locator("#rights-request h1")).to_contain_text("RR-000004")
    await expect(page.get_by_role("button", name="Build and send the export package")).to_be_visible()
    await page.goto(f"{web_server.url}/workbench/rights/report")
    await expect(page.locator("figure.chart svg rect.on-time").last).to_be_visible()
    await expect(page.locator("#rights-report")).to_contain_text("100")
