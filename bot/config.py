"""Typed configuration: config.yaml, overridden by INCS_<SECTION>__<KEY> environment variables.

An invalid value stops start-up with a message naming the key. Secrets come only from the
environment or from a file in the data directory (outside git); production refuses empty ones.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "INCS_"


class ConfigError(Exception):
    """Configuration is invalid; the message names the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    secure_cookies: bool = False


class DatabaseConfig(Section):
    url: str = ""  # empty: sqlite file in the data dir
    echo: bool = False
    pool_size: int = Field(5, ge=1)
    # PostgreSQL only (README "PostgreSQL tuning"): commit durability, a ping per checkout, the prepared statement cache.
    synchronous_commit: Literal["on", "off", "local", "remote_write", "remote_apply"] = "on"
    pool_pre_ping: bool = False
    statement_cache_size: int = Field(500, ge=0)


class RedisConfig(Section):
    url: str = ""  # empty: single process, in-memory fan-out
    namespace: str = Field("incs", pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # several deployments may share one Redis


class WebchatConfig(Section):
    default_org: str = "demo"
    max_text_length: int = Field(4000, ge=1)
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1)
    allowed_mime_types: list[str] = Field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
        ]
    )
    history_limit: int = Field(200, ge=1)


class WorkbenchConfig(Section):
    session_hours: int = Field(12, ge=1)
    login_attempts: int = Field(5, ge=1)
    login_window_seconds: int = Field(900, ge=1)
    page_size: int = Field(50, ge=1, le=500)


class OutboxConfig(Section):
    poll_seconds: float = Field(1.0, gt=0)
    max_attempts: int = Field(12, ge=1)
    backoff_base_seconds: float = Field(2.0, gt=0)
    backoff_max_seconds: float = Field(600.0, gt=0)
    lease_seconds: float = Field(60.0, gt=0)
    batch_size: int = Field(200, ge=1)
    shutdown_grace_seconds: float = Field(5.0, ge=0)
    # the longest a message may stay undelivered: older, it is marked failed and admins get delivery_failing
    max_age_seconds: float = Field(86400.0, gt=0)


class TelegramConfig(Section):
    token: str = ""
    api_base: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_secret: str = ""
    default_org: str = "demo"
    agents_chat_id: int | None = None
    max_download_bytes: int = Field(20 * 1024 * 1024, ge=1)
    webhook_url: str = ""  # empty: server.public_url + /telegram/webhook
    agents_org: str = ""  # org slug mirrored into agents_chat_id topics; empty: default_org
    poll_timeout_seconds: int = Field(25, ge=0, le=50)  # getUpdates long-poll wait
    request_timeout_seconds: float = Field(30.0, gt=0)
    rate_per_chat: float = Field(1.0, gt=0)  # messages per second to one chat
    chat_burst: int = Field(3, ge=1)  # short bursts to one chat before the per-chat rate applies
    rate_global: float = Field(30.0, gt=0)  # messages per second over all chats
    group_per_minute: int = Field(20, ge=1)  # messages per minute to one group or supergroup
    max_wait_seconds: float = Field(1.0, ge=0)  # wait this long for a send slot, else reschedule via the outbox
    flood_limit: int = Field(20, ge=1)  # inbound updates per user per flood_window_seconds
    flood_window_seconds: float = Field(10.0, gt=0)
    link_code_minutes: int = Field(15, ge=1)


class SlackConfig(Section):
    bot_token: str = ""
    signing_secret: str = ""
    app_token: str = ""
    api_base: str = "https://slack.com/api/"
    mode: Literal["events", "socket"] = "events"
    team_orgs: dict[str, str] = Field(default_factory=dict)
    agents_channel: str = ""
    default_org: str = ""  # org slug for a team missing from team_orgs; empty: such events are refused
    max_download_bytes: int = Field(20 * 1024 * 1024, ge=1)
    request_timeout_seconds: int = Field(10, ge=1)


class NotificationsConfig(Section):
    enabled: bool = True
    waiting_minutes: int = Field(15, ge=1)  # a conversation waiting longer raises conversation_waiting
    sweep_seconds: float = Field(60.0, gt=0)
    failing_window_minutes: int = Field(60, ge=1)  # failed outbox items in this window raise delivery_failing
    digest_time: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # UTC, HH:MM
    per_target_per_hour: int = Field(30, ge=1)  # more pushes to one target wait for the digest
    # event kind -> target kinds (workbench, slack, telegram, email); a kind not listed goes to all.
    routes: dict[str, list[Literal["workbench", "slack", "telegram", "email"]]] = Field(default_factory=dict)
    slack_channels: dict[str, str] = Field(default_factory=dict)  # org slug -> Slack channel id for every push


class ChannelsConfig(Section):
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)


class SmtpConfig(Section):
    host: str = ""
    port: int = Field(25, ge=1, le=65535)
    username: str = ""
    password: str = ""
    use_tls: bool = False
    start_tls: bool = False
    sender: str = "support@localhost"
    timeout_seconds: float = Field(10.0, gt=0)


class VerificationConfig(Section):
    """One-time codes that prove who the bot is talking to (identity check before account help or rights requests)."""

    code_ttl_minutes: int = Field(10, ge=1)
    max_attempts: int = Field(5, ge=1)  # wrong codes per identity and per address before a lock
    lock_minutes: int = Field(15, ge=1)
    resend_seconds: int = Field(60, ge=0)
    daily_cap: int = Field(10, ge=1)  # codes per address per 24 hours
    freshness_hours: float = Field(24.0, gt=0)  # how old a verification may be for flows that need one


class SmsConfig(Section):
    provider: Literal["console", "webhook"] = "console"  # console: the message goes to the log (local runs only)
    webhook_url: str = ""
    auth_header: str = "Authorization"
    auth_token: str = ""  # secret: INCS_SMS__AUTH_TOKEN
    timeout_seconds: float = Field(10.0, gt=0)


class PrivacyConfig(Section):
    policy_version: str = "2023-08-17"
    response_days: int = Field(15, ge=1)


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(Section):
    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    secret_key: str = ""
    locale: Literal["en", "zh"] = "en"
    server: ServerConfig = Field(default_factory=ServerConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    webchat: WebchatConfig = Field(default_factory=WebchatConfig)
    workbench: WorkbenchConfig = Field(default_factory=WorkbenchConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    sms: SmsConfig = Field(default_factory=SmsConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @field_validator("secret_key")
    @classmethod
    def _no_weak_secret(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'incs.db').resolve()}"


SECRET_KEYS = {"secret_key"}
SECRET_PATHS = {
    ("channels", "telegram", "token"),
    ("channels", "telegram", "webhook_secret"),
    ("channels", "slack", "bot_token"),
    ("channels", "slack", "signing_secret"),
    ("channels", "slack", "app_token"),
    ("smtp", "password"),
    ("sms", "auth_token"),
}


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """INCS_SERVER__PORT=9000 -> {"server": {"port": "9000"}}; INCS_DATA_DIR -> {"data_dir": ...}."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name.startswith("INCS_TEST_"):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another variable")
        node[path[-1]] = _parse_env_value(value)
    return tree


def _parse_env_value(value: str) -> Any:
    if value.startswith(("[", "{")):
        return yaml.safe_load(value)
    return value


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_secrets_not_in_file(raw: dict[str, Any], source: str) -> None:
    if raw.get("secret_key"):
        raise ConfigError(f"secret_key: set it with INCS_SECRET_KEY, not in {source}")
    for path in SECRET_PATHS:
        node: Any = raw
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node:
            dotted = ".".join(path)
            env = ENV_PREFIX + "__".join(p.upper() for p in path)
            raise ConfigError(f"{dotted}: secrets come from the environment ({env}), not {source}")


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    environ = dict(os.environ if environ is None else environ)
    path = path or Path(environ.get("INCS_CONFIG", "config.yaml"))
    raw: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        _check_secrets_not_in_file(loaded, str(path))
        raw = loaded
    raw = _merge(raw, _env_overrides({k: v for k, v in environ.items() if k != "INCS_CONFIG"}))
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{key}: {first['msg']}") from None
    return _with_secret_key(settings)


def _with_secret_key(settings: Settings) -> Settings:
    if settings.secret_key:
        return settings
    if settings.mode == "production":
        raise ConfigError("secret_key: required in production (set INCS_SECRET_KEY)")
    key_file = settings.data_dir / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        key_file.chmod(0o600)
    return settings.model_copy(update={"secret_key": key_file.read_text(encoding="utf-8").strip()})
