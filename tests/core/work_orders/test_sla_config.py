"""SLA configuration is refused at start with the key named: negative or missing targets, bad categories."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("yaml_text", "key", "words"),
    [
        ("sla:\n  resolution_minutes: {low: 10, normal: -5, high: 3, urgent: 1}\n", "sla.resolution_minutes", "positive"),
        ("sla:\n  first_response_minutes: {low: 10, normal: 5}\n", "sla.first_response_minutes", "exactly"),
        ("sla:\n  next_response_minutes: {low: 1, normal: 1, high: 1, urgent: 0}\n", "sla.next_response_minutes", "positive"),
        ("sla:\n  at_risk_percent: 120\n", "sla.at_risk_percent", ""),
        ("sla:\n  categories: []\n", "sla.categories", ""),
        ("sla:\n  categories: [Billing Stuff]\n", "sla.categories", "lowercase"),
        ("sla:\n  conversation_priority: asap\n", "sla.conversation_priority", ""),
    ],
)
def test_bad_sla_config_names_the_key(tmp_path: Path, yaml_text: str, key: str, words: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{key.replace('.', '[.]')}: .*{words}"):
        load_settings(path, {"INCS_DATA_DIR": str(tmp_path)})


def test_repository_config_has_the_documented_sla_defaults(tmp_path: Path) -> None:
    settings = load_settings(Path("config.yaml"), {"INCS_DATA_DIR": str(tmp_path)})
    assert settings.sla.resolution_minutes == {"low": 4320, "normal": 1440, "high": 480, "urgent": 240}
    assert settings.sla.at_risk_percent == 80 and "billing" in settings.sla.categories
    assert settings.business_time.hours["mon"] == ["09:00-18:00"] and "sat" not in settings.business_time.hours
