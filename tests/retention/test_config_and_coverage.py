"""Retention settings are refused at start when negative or under the configured minimum (the key named), and
every table holding customers' data has a retention category or a stated reason to be kept."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.core.personal_data.registry import customer_entries
from bot.core.retention import rules
from tests.retention.seed import seed
from tests.utils.db import sqlite_db


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`incs` configures the root logger with a handler on the stderr of the moment (pytest's capture, closed after
    the test): put the root's handlers and level back, or later tests' log lines (aiosmtpd's thread, say) go to a
    closed file as "--- Logging error ---"."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _load(tmp_path: Path, yaml_text: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    return load_settings(path, {"INCS_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(("yaml_text", "key"), [
    ("retention:\n  messages_days: -1\n", "retention.messages_days"),
    ("retention:\n  minimum_days: 30\n  outbox_days: 7\n", "retention.outbox_days"),
    ("retention:\n  minimum_days: -2\n", "retention.minimum_days"),
    ("retention:\n  rights_requests_days: 30\n", "retention.rights_requests_days"),
    ("retention:\n  telegram_journal_days: 0\n  minimum_days: 0\n", "retention.telegram_journal_days"),
    ("retention:\n  attachments_days: 900\n", "retention.attachments_days"),
    ("retention:\n  run_at: '25:00'\n", "retention.run_at"),
])
def test_bad_retention_values_are_refused_naming_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}: "):
        _load(tmp_path, yaml_text)


def test_null_keeps_for_ever_and_the_repository_config_loads(tmp_path: Path) -> None:
    settings = _load(tmp_path, "retention:\n  messages_days: null\n  attachments_days: null\n")
    assert settings.retention.messages_days is None  # type: ignore[attr-defined]
    assert load_settings(Path("config.yaml"), {"INCS_DATA_DIR": str(tmp_path)}).retention.audit_days == 365


def test_every_customer_table_has_a_retention_rule_or_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {c.name for c in rules.CATEGORIES} | {rules.AUDIT}
    tables = [e.table for e in customer_entries()]
    assert [t for t in tables if t not in rules.COVERAGE] == []
    for t in tables:
        assert rules.COVERAGE[t] in names or rules.COVERAGE[t].startswith("kept while the account lives"), t
    monkeypatch.delitem(rules.COVERAGE, "messages")  # a table without a rule is caught
    assert [t for t in tables if t not in rules.COVERAGE] == ["messages"]


def test_cli_dry_run_then_run_then_audit_verify(tmp_path: Path, template_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str], root_logging: None) -> None:
    from bot.core.common import clock
    from bot.core.storage.db import create_engine, session_factory
    from tests.retention.seed import CONFIG, MOMENT

    url = asyncio.run(sqlite_db(tmp_path, template_dir))

    async def prepare() -> None:
        engine = create_engine(url)
        await seed(session_factory(engine), tmp_path)
        await engine.dispose()

    asyncio.run(prepare())
    clock.set_clock(lambda: MOMENT)
    config = tmp_path / "incs.yaml"
    days = {k: v for k, v in CONFIG.model_dump().items() if k.endswith("_days")}
    config.write_text("retention:\n" + "".join(f"  {k}: {v}\n" for k, v in days.items()), encoding="utf-8")
    for name, value in {"INCS_DATABASE__URL": url, "INCS_DATA_DIR": str(tmp_path), "INCS_SECRET_KEY": "k" * 40}.items():
        monkeypatch.setenv(name, value)
    assert main(["--config", str(config), "retention", "--dry-run"]) == 0
    dry = [line.replace("would remove", "removed") for line in capsys.readouterr().out.splitlines()[:-1]]
    assert "messages: would remove 4" not in dry and "messages: removed 4" in dry
    assert main(["--config", str(config), "retention"]) == 0
    assert capsys.readouterr().out.splitlines()[:-1] == dry
    assert main(["--config", str(config), "audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "archived, chain intact" in out and "broken" not in out
