"""Webhook updates with a valid secret but hostile content: never a 5xx or a traceback, counted, nothing stored."""

from __future__ import annotations

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.common import metrics
from tests.conftest import Server
from tests.fakes.telegram_api import FakeTelegram
from tests.utils.checks import no_tracebacks, stored
from tests.utils.factories import login, make_org

GOOD = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-hook", "Content-Type": "application/json"}
FUZZ = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
MESSAGEISH = st.fixed_dictionaries(
    {"message_id": st.integers() | JSONISH, "date": st.integers(min_value=0) | JSONISH,
     "chat": st.fixed_dictionaries({"id": st.integers() | JSONISH, "type": st.sampled_from(["private", "group"]) | JSONISH}) | JSONISH},
    optional={"text": JSONISH, "from": JSONISH, "voice": JSONISH, "photo": JSONISH, "document": JSONISH, "entities": JSONISH},
)
UPDATEISH = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=10_000, max_value=2**40) | JSONISH},
    optional={"message": MESSAGEISH | JSONISH, "edited_message": MESSAGEISH, "callback_query": JSONISH},
)


def _invalid_count() -> float:
    return metrics.REGISTRY.get_sample_value("incs_invalid_updates_total", {"channel": "telegram"}) or 0.0


@pytest.fixture
async def hook(tg_start: object, fake: FakeTelegram) -> Server:
    server: Server = await tg_start(mode="webhook")  # type: ignore[operator]
    await make_org(server.ctx.factory, slug="demo")
    return server


HOSTILE = [b"[" * 5000, b'{"update_id": 9, "message": ' + b"[" * 3000 + b"}", b"\xff\xfe", b'{"update_id": "\\ud800"}']


@pytest.mark.parametrize("raw", HOSTILE)
async def test_hostile_bodies_get_400_and_are_counted(hook: Server, caplog: pytest.LogCaptureFixture, raw: bytes) -> None:
    before = _invalid_count()
    async with aiohttp.ClientSession() as http, http.post(f"{hook.url}/telegram/webhook", data=raw, headers=GOOD) as resp:
        assert resp.status == 400
    assert _invalid_count() == before + 1
    no_tracebacks(caplog)
    assert await stored(hook) == (0, 0)


async def test_an_update_aiogram_cannot_validate_is_counted_in_metrics_and_on_the_health_page(tg_start: object, fake: FakeTelegram) -> None:
    server: Server = await tg_start(mode="webhook")  # type: ignore[operator]
    demo = await make_org(server.ctx.factory, slug="demo")
    before = _invalid_count()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{server.url}/telegram/webhook", json={"update_id": 3, "message": {"message_id": "x"}}, headers=GOOD) as resp:
            assert resp.status == 200  # acknowledged: a retry would not make it readable
        async with http.get(f"{server.url}/metrics") as resp:
            assert f'incs_invalid_updates_total{{channel="telegram"}} {before + 1}' in await resp.text()
        await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench/telegram") as resp:
            page = await resp.text()
    assert 'id="tg-invalid">1 (last: update 3 does not validate' in page


@pytest.mark.parametrize("field", ["chat", "from"])
async def test_an_id_beyond_telegram_s_range_is_refused_not_a_5xx(hook: Server, caplog: pytest.LogCaptureFixture, field: str) -> None:
    """Telegram's ids have at most 52 significant bits; a forged 70-bit one would overflow the database's columns."""
    message = {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"}, "text": "hi",
               "from": {"id": 5, "is_bot": False, "first_name": "A"}}
    message[field]["id"] = 2**70  # type: ignore[index]
    before = _invalid_count()
    async with aiohttp.ClientSession() as http, http.post(
        f"{hook.url}/telegram/webhook", json={"update_id": 77, "message": message}, headers=GOOD
    ) as resp:
        assert resp.status == 200  # acknowledged: a retry would not make it fit
    assert _invalid_count() == before + 1
    no_tracebacks(caplog)
    assert await stored(hook) == (0, 0)


@FUZZ
@given(update=UPDATEISH | JSONISH)
async def test_fuzzed_updates_with_a_valid_secret_never_get_a_5xx(
    hook: Server, caplog: pytest.LogCaptureFixture, update: object
) -> None:
    before, invalid = await stored(hook), _invalid_count()
    async with aiohttp.ClientSession() as http, http.post(f"{hook.url}/telegram/webhook", json=update, headers=GOOD) as resp:
        assert resp.status < 500, update
        refused = resp.status >= 400 or _invalid_count() > invalid
    if refused:
        assert await stored(hook) == before
    no_tracebacks(caplog)
