"""Connection limits in front of the app: half-open and slow-header connections, a per-address cap, a quiet log."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.server import GUARD, ResourceErrorThrottle, raise_descriptor_limit
from tests.conftest import Server, make_settings, start_server

ATTACKER = "127.0.0.2"  # loopback has all of 127/8: the attacker and the prober are different addresses


@pytest.fixture
async def limited(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    settings = make_settings(sqlite_url, tmp_path / "data",
                             server={"header_timeout_seconds": 1.0, "max_connections_per_address": 20})
    server = await start_server(settings)
    yield server
    await server.stop()


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> None:  # noqa: ASYNC109 - a polling helper's deadline
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if condition():
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_half_open_connections_are_capped_per_address_and_closed_after_the_header_timeout(limited: Server) -> None:
    guard = limited.app[GUARD]
    writers = []
    for _ in range(300):
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", _port(limited), local_addr=(ATTACKER, 0))
        except OSError:
            continue
        writers.append((_reader, writer))
    await _wait(lambda: guard.refused >= 280 - 20)
    assert guard.open[ATTACKER] <= 20
    async with aiohttp.ClientSession() as http, http.get(f"{limited.url}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as resp:
        assert resp.status == 200  # another address is served while the attacker is at its cap
    await _wait(lambda: guard.open.get(ATTACKER, 0) == 0)  # the header clock closed the half-open ones
    assert guard.timed_out >= 20
    reader = writers[0][0]
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
    for _r, writer in writers:
        writer.close()


async def test_slow_headers_are_cut_but_a_kept_alive_connection_is_not(limited: Server) -> None:
    guard = limited.app[GUARD]
    slow_reader, slow = await asyncio.open_connection("127.0.0.1", _port(limited))
    slow.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(limited))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert await asyncio.wait_for(slow_reader.read(), 10) == b""
    assert guard.timed_out == 1
    await asyncio.wait_for(reader.readuntil(b'"database": true}'), 5)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # after the header timeout: still served
    assert b"200 OK" in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    slow.close()


async def test_a_later_request_on_a_kept_alive_connection_that_dribbles_its_headers_is_cut_too(limited: Server) -> None:
    guard = limited.app[GUARD]
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(limited))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await asyncio.wait_for(reader.readuntil(b'"database": true}'), 5)  # the whole first answer: the connection is idle
    writer.write(b"GET /healthz HTTP/1.1\r\n")  # the second request starts, then its headers come a line at a time

    async def dribble() -> None:
        for n in range(200):  # 20 s of headers, far beyond the 1 s header timeout (keep-alive allows 75 s)
            await asyncio.sleep(0.1)
            writer.write(f"X-Slow-{n}: y\r\n".encode())

    dribbling = asyncio.create_task(dribble())
    started = asyncio.get_running_loop().time()
    try:
        assert await asyncio.wait_for(reader.read(), 15) == b""  # closed by the server, nothing answered
    finally:
        dribbling.cancel()
        writer.close()
    assert guard.timed_out == 1
    assert asyncio.get_running_loop().time() - started < 15


def test_out_of_descriptor_lines_are_rate_limited_without_traceback() -> None:
    now = [0.0]
    throttle = ResourceErrorThrottle(interval=10.0, clock=lambda: now[0])
    records = []
    for i in range(1000):
        now[0] = i * 0.01  # 1000 accept failures in 10 seconds
        error = OSError(errno.EMFILE, "Too many open files")
        record = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource", None,
                                   (OSError, error, None))
        if throttle.filter(record):
            records.append(record)
    assert len(records) == 1 and records[0].exc_info is None
    now[0] = 10.5
    record = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource", None, None)
    assert throttle.filter(record) and "999 similar lines suppressed" in record.getMessage()
    other = logging.LogRecord("bot", logging.ERROR, __file__, 1, "something else", None, None)
    assert throttle.filter(other)


def test_descriptor_limit_is_raised_to_the_hard_limit() -> None:
    import resource

    soft, hard = raise_descriptor_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft
    assert soft == hard or hard == resource.RLIM_INFINITY
