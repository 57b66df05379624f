"""Serving the app: connection limits in front of aiohttp, descriptor limit, and a quiet log under attack.

Guarantees:
- a connection that has not sent complete request headers within `server.header_timeout_seconds`
  of connecting is closed (half-open and slow-header connections cannot pile up); on a kept-alive
  connection the same clock starts again with the first byte of each later request, so a second
  request cannot dribble its headers either (an idle kept-alive connection is `keepalive_seconds`'
  business, not this clock's);
- one address holds at most `server.max_connections_per_address` open connections: further ones are
  closed at once on accept, so their descriptors are freed immediately and other clients keep being served;
- an idle keep-alive connection is closed after `server.keepalive_seconds`;
- the soft descriptor limit is raised to the hard limit at start where the OS allows;
- "out of descriptors" log lines are written at most once per interval, with a count, never a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

from bot.config import ServerConfig

log = logging.getLogger(__name__)
HEADER_END = b"\r\n\r\n"
RESOURCE_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class ConnectionGuard:
    """Counts open connections per address; refuses above the cap."""

    def __init__(self, config: ServerConfig) -> None:
        self.per_address = config.max_connections_per_address
        self.header_timeout = config.header_timeout_seconds
        self.open: Counter[str] = Counter()
        self.refused = 0
        self.timed_out = 0

    def admit(self, address: str) -> bool:
        if self.open[address] >= self.per_address:
            self.refused += 1
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: GuardedProtocol(factory(), self)


class GuardedProtocol(asyncio.Protocol):
    """Stands in front of aiohttp's request handler for one connection: admission and the header clock."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner: asyncio.Protocol | None = inner
        self._guard = guard
        self._address: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unix"
        if self._inner is None or not self._guard.admit(address):
            self._inner = None
            cast(asyncio.Transport, transport).abort()  # frees the descriptor now; no handler, no task, no log line
            return
        self._address = address
        self._transport = transport
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.header_timeout, self._headers_too_slow, transport)
        self._inner.connection_made(transport)

    def _headers_too_slow(self, transport: asyncio.BaseTransport | None) -> None:
        self._timer = None
        self._guard.timed_out += 1
        if transport is not None:
            cast(asyncio.Transport, transport).abort()

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._timer is None and data and _between_requests(self._inner):
            # The first bytes of the next request on a kept-alive connection: its headers get the same clock.
            self._timer = asyncio.get_running_loop().call_later(self._guard.header_timeout, self._headers_too_slow, self._transport)
            self._tail = b""
        if self._timer is not None:
            window = self._tail + data
            if HEADER_END in window:
                self._timer.cancel()
                self._timer = None
                self._tail = b""
            else:
                self._tail = window[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = None
        if self._address is not None:
            self._guard.release(self._address)
            self._address = None
        if self._inner is not None:
            inner, self._inner = self._inner, None
            inner.connection_lost(exc)


def _between_requests(handler: asyncio.Protocol) -> bool:
    """aiohttp's request handler has answered the previous request and waits for the next one's headers.
    The test is aiohttp's own for "handler in idle state" (RequestHandler._process_keepalive): its `_waiter`
    is an unfinished future only then — not while a request is handled, its body read or a websocket open.
    tests/test_server_limits.py fails if an aiohttp upgrade changes that."""
    waiter = getattr(handler, "_waiter", None)
    return isinstance(waiter, asyncio.Future) and not waiter.done()


GUARD = web.AppKey("incs_connection_guard", ConnectionGuard)


class GuardedTCPSite(web.TCPSite):
    """aiohttp's TCPSite with every accepted connection passing the guard first."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.wrap(server), self._host, self._port, backlog=self._backlog, reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )


def raise_descriptor_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (no privilege needed); returns (soft, hard) after."""
    try:
        import resource
    except ImportError:  # not on this platform
        return (0, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.info("server: could not raise the descriptor limit above %d", soft)
    return soft, hard


class ResourceErrorThrottle(logging.Filter):
    """One "out of descriptors" line per interval, with the count since the last one, and no traceback."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._last = -interval
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_resource_error(record):
            return True
        now = self._clock()
        if now - self._last < self.interval:
            self._suppressed += 1
            return False
        self._last = now
        record.msg = "out of file descriptors or memory while accepting/handling connections (%d similar lines suppressed)"
        record.args = (self._suppressed,)
        record.exc_info = None
        record.exc_text = None
        self._suppressed = 0
        return True


def _is_resource_error(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
        return True
    message = record.getMessage() if record.args else str(record.msg)
    return "Too many open files" in message or "out of system resource" in message


def install_log_throttle() -> ResourceErrorThrottle:
    throttle = ResourceErrorThrottle()
    for name in ("asyncio", "aiohttp.server", "aiohttp.access", "aiohttp.web", ""):
        logging.getLogger(name).addFilter(throttle)
    return throttle


async def start_site(app: web.Application, config: ServerConfig, *, host: str, port: int) -> tuple[web.AppRunner, GuardedTCPSite]:
    guard = ConnectionGuard(config)
    app[GUARD] = guard
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=config.keepalive_seconds)
    await runner.setup()
    site = GuardedTCPSite(runner, host, port, guard)
    await site.start()
    return runner, site


def listening_url(site: web.TCPSite) -> str:
    """The address the site really listens on (its own port when `server.port` was 0; the loopback for a wildcard host)."""
    server = site._server  # noqa: SLF001 - aiohttp keeps the asyncio server here; its sockets know the real port
    sockets = list(getattr(server, "sockets", None) or [])
    if not sockets:
        return site.name
    host, port = sockets[0].getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # noqa: S104 - printing, not binding
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"


def run(app: web.Application, config: ServerConfig, on_listening: Callable[[str], None] | None = None) -> None:
    """`incs run`: serve until SIGINT or SIGTERM, then shut down cleanly. `on_listening` gets the real URL once bound."""
    soft, _hard = raise_descriptor_limit()
    install_log_throttle()
    log.info("server: descriptor limit %d, at most %d connections per address", soft, config.max_connections_per_address)

    async def main() -> None:
        runner, site = await start_site(app, config, host=config.host, port=config.port)
        if on_listening is not None:
            on_listening(listening_url(site))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())
