"""Slack journey: `/support ticket`, category button, description in the DM; the agent resolves it in the
workbench; the customer is told in the DM and rates it with a button; the report shows it."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp

from tests.channels.slack.conftest import SlackPoster
from tests.conftest import Server
from tests.fakes.slack_api import Call, FakeSlack
from tests.utils.factories import OrgWithAdmin, login

CUSTOMER, DM = "U0CUST001", "D0CUST001"
PRESSES = itertools.count(1)  # each press has its own action_ts (Slack deduplicates on it)


def buttons(call: Call) -> list[dict[str, Any]]:
    return [e for b in call.args.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


async def press(poster: SlackPoster, call: Call, value: str) -> None:
    button = next(b for b in buttons(call) if b["value"] == value)
    status, _ = await poster.interactive({
        "type": "block_actions", "team": {"id": "T0TEAM001"}, "user": {"id": CUSTOMER}, "api_app_id": "A0APP",
        "trigger_id": f"t-{value}", "channel": {"id": DM}, "container": {"type": "message", "message_ts": "1"},
        "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "b", "value": value,
                     "text": button["text"], "action_ts": f"1700000002.{next(PRESSES):06d}"}],
    })
    assert status == 200


async def test_ticket_on_slack(
    slack_server: Server, slack_demo: OrgWithAdmin, poster: SlackPoster, fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    status, _ = await poster.command(CUSTOMER, "ticket", "trig-1")
    assert status == 200
    menu = await fake_slack.wait_until(lambda c: any(b["value"] == "ticket:cat:billing" for b in buttons(c)))
    await press(poster, menu, "ticket:cat:billing")
    await fake_slack.wait_until(lambda c: "describe the problem" in str(c.args.get("text")))
    status, _ = await poster.dm(CUSTOMER, "Charged twice for order 88", "1700000003.000100", "Ev-wo-1")
    assert status == 200
    await fake_slack.wait_until(lambda c: "WO-000001 (billing) is open" in str(c.args.get("text")))

    csrf = await login(http, slack_server.url, slack_demo.admin.email)
    for status_name in ("pending", "open", "resolved"):
        async with http.post(f"{slack_server.url}/workbench/work-orders/1/status",
                             data={"status": status_name, "csrf_token": csrf}) as resp:
            assert resp.status == 200
    await fake_slack.wait_until(lambda c: "WO-000001 is now pending" in str(c.args.get("text")))
    ask = await fake_slack.wait_until(lambda c: any(b["value"] == "csat:work_order:1:3" for b in buttons(c)))
    await press(poster, ask, "csat:work_order:1:3")
    await fake_slack.wait_until(lambda c: "Thank you for your rating (3/5)" in str(c.args.get("text")))
    async with http.get(f"{slack_server.url}/workbench/reports") as resp:
        report = await resp.text()
    assert 'id="csat-average">3.0<' in report and "resolved work orders: <strong>1</strong>" in report
