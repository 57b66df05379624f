"""Web chat journey: the customer opens a work order in chat (category, file, description), an agent resolves it
in the workbench, the customer is told and rates it; the report shows it. Plus the chat's polite refusals."""

from __future__ import annotations

import re

import aiohttp

from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor


async def open_ticket(visitor: Visitor, description: str = "My parcel arrived broken") -> str:
    await visitor.say("ticket")
    choose = await visitor.wait_message(lambda m: ["Delivery", "ticket:cat:delivery"] in m.get("buttons", []))
    assert "category" in choose["text"]
    await visitor.send({"type": "button", "label": "Delivery", "payload": "ticket:cat:delivery"})
    await visitor.wait_message(lambda m: "describe the problem" in m["text"])
    status, _ = await visitor.upload("broken.png", b"\x89PNG broken parcel", "image/png")
    assert status == 200
    await visitor.wait_message(lambda m: m["text"].startswith("Attached (1)"))
    await visitor.say(description)
    created = await visitor.wait_message(lambda m: "is open" in m["text"])
    match = re.search(r"WO-\d{6}", created["text"])
    assert match, created
    return match.group(0)


async def test_open_resolve_rate_report(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    visitor = await Visitor(server.url).open()
    try:
        label = await open_ticket(visitor)
        assert label == "WO-000001"
        csrf = await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench/work-orders") as resp:
            listing = await resp.text()
        assert resp.status == 200 and label in listing and 'class="countdown sla-green"' in listing
        async with http.get(f"{server.url}/workbench/work-orders/1") as resp:
            page = await resp.text()
        assert "My parcel arrived broken" in page and "/workbench/files/" in page

        async with http.post(f"{server.url}/workbench/work-orders/1/status", data={"status": "closed", "csrf_token": csrf}) as resp:
            assert resp.status == 409
            assert "it can go to: open, pending, resolved" in await resp.text()
        for status in ("open", "resolved"):
            async with http.post(f"{server.url}/workbench/work-orders/1/status", data={"status": status, "csrf_token": csrf},
                                 allow_redirects=False) as resp:
                assert resp.status == 303, await resp.text()
        await visitor.wait_message(lambda m: m["text"] == f"Work order {label} is now open.")
        ask = await visitor.wait_message(lambda m: f"{label} is resolved" in m["text"])
        assert ["★★★★", "csat:work_order:1:4"] in ask["buttons"]

        await visitor.send({"type": "button", "label": "★★★★", "payload": "csat:work_order:1:4"})
        await visitor.wait_message(lambda m: "Thank you for your rating (4/5)" in m["text"])
        await visitor.say("Quick and friendly")
        await visitor.wait_message(lambda m: m["text"] == "Thank you for your feedback.")
        await visitor.send({"type": "button", "label": "★★★★★", "payload": "csat:work_order:1:5"})
        await visitor.wait_message(lambda m: "already rated" in m["text"])

        await visitor.say("status")
        listed = await visitor.wait_message(lambda m: m["text"].startswith("Your work orders"))
        assert f"{label} · delivery · resolved" in listed["text"]

        async with http.get(f"{server.url}/workbench/reports") as resp:
            report = await resp.text()
        assert resp.status == 200 and "<svg" in report
        assert 'id="csat-average">4.0<' in report and "resolved work orders: <strong>1</strong>" in report
        async with http.get(f"{server.url}/workbench/reports.csv") as resp:
            csv_text = await resp.text()
        assert resp.headers["Content-Type"].startswith("text/csv")
        total = csv_text.strip().splitlines()[-1].split(",")
        assert total[0] == "total" and total[3] == "1" and total[-1] == "4.0"
        async with http.get(f"{server.url}/workbench/work-orders/1") as resp:
            timeline = await resp.text()
        assert "rated 4/5" in timeline and "status: open → resolved" in timeline
    finally:
        await visitor.close()


async def test_chat_refuses_politely(server: Server, demo: OrgWithAdmin) -> None:
    visitor = await Visitor(server.url).open()
    other = await Visitor(server.url).open()
    try:
        await visitor.say("ticket")
        await visitor.wait_message(lambda m: "category" in m["text"])
        await visitor.send({"type": "button", "label": "Spaceships", "payload": "ticket:cat:spaceships"})
        await visitor.wait_message(lambda m: "not one of our categories" in m["text"])
        await visitor.send({"type": "button", "label": "Billing", "payload": "ticket:cat:billing"})
        await visitor.wait_message(lambda m: "describe the problem" in m["text"])
        await visitor.say("Charged twice")
        await visitor.wait_message(lambda m: "is open" in m["text"])
        # Another customer rating this customer's work order is refused, whatever the payload says.
        await other.say("hello")
        await other.send({"type": "button", "label": "★", "payload": "csat:work_order:1:1"})
        await other.wait_message(lambda m: "could not be recorded" in m["text"])
        for forged in ("csat:work_order:x:9", "csat:work_order:99999999999999999999999:5", "csat:nothing:1:5", "csat:a:b"):
            await other.send({"type": "button", "label": "★", "payload": forged})
            await other.wait_message(lambda m: "could not be recorded" in m["text"])
    finally:
        await visitor.close()
        await other.close()
