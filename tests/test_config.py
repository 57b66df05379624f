"""Configuration: validated at start, errors name the key, env overrides, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_config_loads(tmp_path: Path) -> None:
    settings = load_settings(Path("config.yaml"), {"INCS_DATA_DIR": str(tmp_path)})
    assert settings.server.port == 8080 and settings.database_url.startswith("sqlite+aiosqlite:///")
    assert len(settings.secret_key) >= 32  # generated into the data dir on first start, outside git
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_invalid_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^server\.port:"):
        load_settings(_write(tmp_path, "server:\n  port: 99999\n"), {"INCS_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"^webchat\.max_upload_bytes:"):
        load_settings(_write(tmp_path, "webchat:\n  max_upload_bytes: lots\n"), {"INCS_DATA_DIR": str(tmp_path)})


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^server\.prot:"):
        load_settings(_write(tmp_path, "server:\n  prot: 1\n"), {"INCS_DATA_DIR": str(tmp_path)})


def test_environment_overrides_nested_keys(tmp_path: Path) -> None:
    env = {
        "INCS_DATA_DIR": str(tmp_path),
        "INCS_SERVER__PORT": "9191",
        "INCS_DATABASE__URL": "postgresql+asyncpg://db/incs",
        "INCS_CHANNELS__TELEGRAM__TOKEN": "123:abc",
        "INCS_WEBCHAT__ALLOWED_MIME_TYPES": "[image/png]",
    }
    settings = load_settings(_write(tmp_path, "server:\n  port: 8080\n"), env)
    assert settings.server.port == 9191
    assert settings.database_url == "postgresql+asyncpg://db/incs"
    assert settings.channels.telegram.token == "123:abc"
    assert settings.webchat.allowed_mime_types == ["image/png"]
    with pytest.raises(ConfigError, match=r"^server\.port:"):
        load_settings(None, {"INCS_DATA_DIR": str(tmp_path), "INCS_SERVER__PORT": "eighty"})


def test_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^channels\.telegram\.token: secrets come from the environment"):
        load_settings(_write(tmp_path, "channels:\n  telegram:\n    token: '123:abc'\n"), {"INCS_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"^secret_key:"):
        load_settings(_write(tmp_path, "secret_key: 'x'\n"), {"INCS_DATA_DIR": str(tmp_path)})


def test_production_refuses_a_missing_or_weak_secret(tmp_path: Path) -> None:
    config = _write(tmp_path, "mode: production\n")
    with pytest.raises(ConfigError, match=r"^secret_key: required in production"):
        load_settings(config, {"INCS_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"^secret_key:"):
        load_settings(config, {"INCS_DATA_DIR": str(tmp_path), "INCS_SECRET_KEY": "short"})
    settings = load_settings(config, {"INCS_DATA_DIR": str(tmp_path), "INCS_SECRET_KEY": "s" * 40})
    assert settings.mode == "production"
