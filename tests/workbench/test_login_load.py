"""Sign-ins under load keep the rest of the server quick: argon2 runs in low-priority threads, and a sign-in
holds no database connection (nor SQLite's writer turn) while its password is checked."""

from __future__ import annotations

import asyncio
import os
import threading

import aiohttp

from bot.core.security.password_pool import WORKER_NICE, PasswordPool
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, csrf_from
from tests.utils.webchat import Visitor
from workbench.auth import PASSWORDS


def _my_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_password_threads_run_below_the_event_loops_priority() -> None:
    pool = PasswordPool(workers=2)
    try:
        loop_nice = _my_nice()
        worker_nice = await pool.run(_my_nice)
        assert worker_nice >= min(loop_nice + WORKER_NICE, 19), (loop_nice, worker_nice)
        assert _my_nice() == loop_nice  # the event loop's own thread is untouched
    finally:
        pool.close()


async def test_sign_ins_waiting_for_a_password_check_hold_no_connection_and_no_writer_turn(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession
) -> None:
    pool = server.app[PASSWORDS]
    gate = threading.Event()
    blockers = [asyncio.ensure_future(pool.run(gate.wait, 30)) for _ in range(pool.workers)]  # every argon2 thread busy
    visitor = await Visitor(server.url).open()
    try:
        async with http.get(f"{server.url}/workbench/login") as resp:
            token = csrf_from(await resp.text())

        async def sign_in(i: int) -> int:
            data = {"email": f"nobody{i}@example.com", "password": "not this one", "csrf_token": token}
            async with http.post(f"{server.url}/workbench/login", data=data, allow_redirects=False) as resp:
                return resp.status

        logins = [asyncio.ensure_future(sign_in(i)) for i in range(20)]  # more than the database pool's 5 + 10
        async with asyncio.timeout(30):
            while pool.pending < pool.workers + len(logins):  # noqa: ASYNC110 - every sign-in waits for argon2 now
                await asyncio.sleep(0.02)
        async with http.get(f"{server.url}/healthz") as resp:
            assert resp.status == 200
        ack = await visitor.say("written while twenty sign-ins wait for their password check")
        assert ack["type"] == "ack"  # stored and committed: no sign-in held the writer's turn
        assert not any(login.done() for login in logins)  # all of them still wait for argon2
        gate.set()
        assert await asyncio.gather(*logins) == [401] * 20
    finally:
        gate.set()
        await asyncio.gather(*blockers)
        await visitor.close()
