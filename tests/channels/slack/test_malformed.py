"""Slack bodies an attacker or a confused proxy sends: refused with a 4xx and one log line, nothing stored."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.channels.slack.conftest import SIGNING_SECRET, SlackPoster
from tests.conftest import Server
from tests.utils.checks import no_tracebacks, stored
from tests.utils.factories import OrgWithAdmin

FUZZ = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


async def _signed(http: aiohttp.ClientSession, url: str, raw: bytes, content_type: str = "application/json") -> int:
    stamp = str(int(time.time()))
    # By hand: slack_sdk's generate_signature decodes the body as UTF-8 and cannot sign arbitrary bytes.
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + raw, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature, "Content-Type": content_type}
    async with http.post(f"{url}/slack/events", data=raw, headers=headers) as resp:
        return resp.status


async def test_unsigned_body_that_is_not_utf8_gets_401_without_a_traceback(
    slack_server: Server, slack_demo: OrgWithAdmin, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    forged = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00", "Content-Type": "application/json"}
    for headers in ({"Content-Type": "application/json"}, forged, forged):
        async with http.post(f"{slack_server.url}/slack/events", data=b"\xff\xfe\x00garbage", headers=headers) as resp:
            assert resp.status == 401
    no_tracebacks(caplog)
    assert sum("bad or stale signature" in r.getMessage() for r in caplog.records) == 3


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"[1, 2, 3]", "application/json"),
        (b'{"type": "event_callback", "event": [1]}', "application/json"),
        (b'{"type": "event_callback", "team_id": 7, "event": {"type": "message", "text": {"a": 1}}}', "application/json"),
        (b'{"type": "event_callback", "authorizations": "x", "event": {"type": "message"}}', "application/json"),
        (b"\xff\xfe not utf-8", "application/json"),
        (b"payload=%5B1%5D", "application/x-www-form-urlencoded"),
        (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        (b'payload={"type":"block_actions","actions":"x"}', "application/x-www-form-urlencoded"),
        (b"[" * 5000, "application/json"),
    ],
)
async def test_signed_body_of_an_unexpected_shape_gets_400_and_one_line(
    slack_server: Server, slack_demo: OrgWithAdmin, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
    raw: bytes, content_type: str,
) -> None:
    assert await _signed(http, slack_server.url, raw, content_type) == 400
    no_tracebacks(caplog)
    assert await stored(slack_server) == (0, 0)
    assert sum("slack:" in r.getMessage() and "refused" in r.getMessage() for r in caplog.records) == 1


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
EVENTISH = st.fixed_dictionaries(
    {"type": st.sampled_from(["event_callback", "url_verification", "block_actions"]) | JSONISH,
     "team_id": st.just("T0TEAM001") | JSONISH,
     "event": st.fixed_dictionaries({"type": st.sampled_from(["message", "app_mention"]) | JSONISH,
                                     "channel_type": st.just("im") | JSONISH,
                                     "user": st.just("U0FUZZ") | JSONISH,
                                     "text": JSONISH,
                                     "ts": JSONISH,
                                     "files": JSONISH}) | JSONISH},
    optional={"authorizations": JSONISH, "event_id": JSONISH, "actions": JSONISH, "challenge": JSONISH},
)


@FUZZ
@given(raw=st.binary(max_size=300) | EVENTISH.map(lambda b: json.dumps(b).encode()), signed=st.booleans())
async def test_fuzzed_slack_bodies_never_get_a_5xx(
    slack_server: Server, slack_demo: OrgWithAdmin, poster: SlackPoster, caplog: pytest.LogCaptureFixture,
    raw: bytes, signed: bool,
) -> None:
    before = await stored(slack_server)
    if signed:
        status = await _signed(poster.http, slack_server.url, raw)
    else:
        async with poster.http.post(f"{slack_server.url}/slack/events", data=raw) as resp:
            status = resp.status
        assert status == 401
    assert status < 500, raw
    if status >= 400:
        assert await stored(slack_server) == before
    no_tracebacks(caplog)
