"""Hostile web chat input: deep nesting, lone surrogates, NUL filenames, huge line-less multipart.

Each gets an error frame or a 4xx, one log line at most, no traceback, and nothing stored.
"""

from __future__ import annotations

import io
import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.security.payloads import is_utf8
from tests.conftest import Server
from tests.utils.checks import no_tracebacks, stored
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 5000,
        '{"type": "text", "text": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"type": "text", "text": "\\ud800"}',
        '{"type": "button", "payload": "\\udfff", "label": "x"}',
        '{"type": "text", "text": "ok", "client_id": "\\ud800"}',
    ],
    ids=["nested-list", "nested-value", "lone-high-surrogate", "lone-low-surrogate", "surrogate-client-id"],
)
async def test_hostile_frames_get_an_error_frame_and_the_socket_lives(
    server: Server, demo: OrgWithAdmin, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    visitor = await Visitor(server.url).open()
    try:
        assert visitor.ws is not None
        for _ in range(3):
            await visitor.ws.send_str(raw)
            error = await visitor.wait(lambda e: e["type"] == "error")
            assert error["error"] == "invalid_input"
        assert (await visitor.say("still here"))["type"] == "ack"
    finally:
        await visitor.close()
    no_tracebacks(caplog)
    assert await stored(server) == (1, 0)


@pytest.mark.parametrize("name", ["evil\x00.txt", "\x00", "a\ud800.txt"])
async def test_upload_with_a_nul_or_surrogate_in_the_filename_is_refused_or_cleaned(
    server: Server, demo: OrgWithAdmin, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    visitor = await Visitor(server.url).open()
    try:
        # Built by hand: aiohttp's FormData would refuse to encode these names.
        boundary = "XyZ"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
        ).encode("utf-8", "surrogatepass")
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        async with visitor.http.post(f"{server.url}/chat/upload?org=demo", data=body, headers=headers) as resp:
            assert resp.status in (200, 400), resp.status
            if resp.status == 200:
                message = (await resp.json())["message"]
                assert "\x00" not in message["text"]
    finally:
        await visitor.close()
    no_tracebacks(caplog)


async def test_a_50_mb_multipart_body_without_line_breaks_is_refused(
    server: Server, demo: OrgWithAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    visitor = await Visitor(server.url).open()
    try:
        headers = {"Content-Type": "multipart/form-data; boundary=XyZ"}
        body = io.BytesIO(b"--XyZ" + b"A" * (50 * 1024 * 1024))
        async with visitor.http.post(f"{server.url}/chat/upload?org=demo", data=body, headers=headers) as resp:
            assert resp.status in (400, 413), resp.status
        long_name = b"b" * (1024 * 1024)
        line = io.BytesIO(b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + long_name + b'"\r\n\r\nx\r\n--XyZ--\r\n')
        async with visitor.http.post(f"{server.url}/chat/upload?org=demo", data=line, headers=headers) as resp:
            assert resp.status in (400, 413), resp.status
        assert (await visitor.say("the server still answers"))["type"] == "ack"
    except aiohttp.ClientError:
        pytest.fail("the server dropped the connection instead of answering 4xx")
    finally:
        await visitor.close()
    no_tracebacks(caplog)
    assert (await stored(server))[1] == 0


FUZZ = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FRAMEISH = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "button", "location"]) | JSONISH},
    optional={"text": JSONISH, "payload": JSONISH, "label": JSONISH, "latitude": JSONISH, "longitude": JSONISH,
              "client_id": JSONISH},
)


@FUZZ
@given(raw=st.text(max_size=120).filter(is_utf8) | FRAMEISH.map(json.dumps) | JSONISH.map(json.dumps))
async def test_fuzzed_frames_get_an_ack_or_an_error_frame(
    server: Server, demo: OrgWithAdmin, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    visitor = await Visitor(server.url).open()
    try:
        assert visitor.ws is not None
        before = await stored(server)
        await visitor.ws.send_str(raw)
        reply = await visitor.wait(lambda e: e["type"] in ("ack", "error"))
        if reply["type"] == "error":
            assert await stored(server) == before
    finally:
        await visitor.close()
    no_tracebacks(caplog)


HEADER_TEXT = st.text(max_size=40)


@FUZZ
@given(
    name=HEADER_TEXT, field=st.sampled_from(["file", "other"]) | HEADER_TEXT,
    mime=st.sampled_from(["text/plain", "image/png"]) | HEADER_TEXT,
    content=st.binary(max_size=200), boundary_tail=st.sampled_from(["--\r\n", "", "\r\n", "--"]), junk=st.binary(max_size=60),
)
async def test_fuzzed_multipart_uploads_never_get_a_5xx(
    server: Server, demo: OrgWithAdmin, caplog: pytest.LogCaptureFixture,
    name: str, field: str, mime: str, content: bytes, boundary_tail: str, junk: bytes,
) -> None:
    visitor = await Visitor(server.url).open()
    try:
        before = await stored(server)
        head = f'--B0\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\nContent-Type: {mime}\r\n\r\n'
        body = junk + head.encode("utf-8", "surrogatepass") + content + f"\r\n--B0{boundary_tail}".encode()
        headers = {"Content-Type": "multipart/form-data; boundary=B0"}
        async with visitor.http.post(f"{server.url}/chat/upload?org=demo", data=body, headers=headers) as resp:
            assert resp.status < 500, (resp.status, body[:200])
            if resp.status != 200:
                assert await stored(server) == before
    finally:
        await visitor.close()
    no_tracebacks(caplog)
