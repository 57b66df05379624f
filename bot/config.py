"""Typed configuration: config.yaml, overridden by INCS_<SECTION>__<KEY> environment variables.

An invalid value stops start-up with a message naming the key. Secrets come only from the
environment or from a file in the data directory (outside git); production refuses empty ones.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from bot.core.storage.files import private_dir, write_private

ENV_PREFIX = "INCS_"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(Exception):
    """Configuration is invalid; the message names the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    secure_cookies: bool = False
    header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    max_connections_per_address: int = Field(256, ge=1)
    keepalive_seconds: float = Field(75.0, gt=0)


class DatabaseConfig(Section):
    url: str = ""  # empty: sqlite file in the data dir
    echo: bool = False
    pool_size: int = Field(10, ge=1)
    # PostgreSQL only (README "PostgreSQL tuning"): commit durability, a ping per checkout, the prepared statement cache.
    synchronous_commit: Literal["on", "off", "local", "remote_write", "remote_apply"] = "on"
    # SQLite only: "full" syncs the WAL at every commit (an acknowledged message survives a power loss), "normal" leaves
    # it to the next checkpoint (it survives a crash of the process, not of the machine). README "Durability".
    sqlite_synchronous: Literal["full", "normal"] = "full"
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
            # Voice notes, audio and video the agent's browser plays (the workbench shows a player for them).
            "audio/ogg",
            "audio/mpeg",
            "audio/mp4",
            "audio/aac",
            "audio/webm",
            "audio/wav",
            "video/mp4",
            "video/webm",
            "video/quicktime",
        ]
    )
    history_limit: int = Field(200, ge=1)
    # Sites allowed to frame the chat (the embeddable widget): "*" for any, or origins like https://shop.example.com.
    embed_origins: list[str] = Field(default_factory=lambda: ["*"])

    @field_validator("embed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not * or an origin like https://shop.example.com")
        return value


class WorkbenchConfig(Section):
    session_hours: int = Field(12, ge=1)
    login_attempts: int = Field(5, ge=1)
    login_account_attempts: int = Field(50, ge=1)
    login_source_attempts: int = Field(100, ge=1)
    login_window_seconds: int = Field(900, ge=1)
    password_workers: int = Field(2, ge=1, le=64)
    max_pending_logins: int = Field(32, ge=1)
    page_size: int = Field(50, ge=1, le=500)


class OrgsConfig(Section):
    invitation_hours: int = Field(72, ge=1, le=24 * 30)
    password_reset_minutes: int = Field(60, ge=5, le=24 * 60)
    license_max_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    license_mime_types: list[str] = Field(default_factory=lambda: ["application/pdf", "image/png", "image/jpeg"])
    logo_max_bytes: int = Field(512 * 1024, ge=1024)
    logo_mime_types: list[str] = Field(default_factory=lambda: ["image/png", "image/jpeg", "image/webp"])
    platform_grant_hours: int = Field(24, ge=1, le=24 * 30)


class BroadcastsConfig(Section):
    batch_size: int = Field(1000, ge=1, le=10000)
    sweep_seconds: float = Field(10.0, gt=0)


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


class RetentionConfig(Section):
    """How long each category of data is kept (days; null keeps it for ever) and when the purge runs (bot/core/retention)."""

    enabled: bool = True
    minimum_days: int = Field(1, ge=0)  # no period below this is accepted
    messages_days: int | None = Field(730, ge=0)  # messages (and conversations left empty) after they were written
    attachments_days: int | None = Field(365, ge=0)  # files after upload; at most messages_days
    outbox_days: int | None = Field(30, ge=0)  # delivered (sent or failed) outbox rows after they were queued
    work_orders_days: int | None = Field(730, ge=0)  # resolved or closed work orders after they were closed
    rights_requests_days: int | None = Field(1095, ge=0)  # answered rights requests after they were closed
    tombstones_days: int | None = Field(1825, ge=0)  # fulfilled deletion and cancellation requests (proof of erasure)
    audit_days: int | None = Field(365, ge=0)  # audit events, archived by whole checkpointed segments
    telegram_journal_days: int | None = Field(14, ge=0)  # Telegram send journal (telegram_sent)
    run_at: str = Field("04:15", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # daily, UTC
    check_seconds: float = Field(3600.0, gt=0)  # how often a due (or missed) run is looked for
    batch_size: int = Field(500, ge=1, le=10000)  # most rows deleted per transaction (one short write turn each)
    batch_target_ms: float = Field(40.0, gt=0, le=1000)  # batches are sized to hold the writer about this long

    @field_validator("messages_days", "attachments_days", "outbox_days", "work_orders_days", "rights_requests_days",
                     "tombstones_days", "audit_days", "telegram_journal_days")
    @classmethod
    def _not_under_the_minimum(cls, value: int | None, info: ValidationInfo) -> int | None:
        minimum = info.data.get("minimum_days", 0)
        if value is not None and value < minimum:
            raise ValueError(f"must be at least retention.minimum_days ({minimum}), or null to keep for ever")
        return value


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
    chat_burst: int = Field(1, ge=1)  # sends to one chat at once before the per-chat rate applies (Telegram: 1)
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
    max_attempts: int = Field(5, ge=1)  # wrong codes per identity before a lock
    address_max_attempts: int = Field(20, ge=1)  # wrong codes per address, from all identities, before a lock
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
    deadline_days: Literal["calendar", "working"] = "calendar"  # how response_days are counted (business_time calendar)
    extension_days: int = Field(15, ge=1, le=60)  # the one extension an agent may grant, with a reason
    repeat_window_days: int = Field(180, ge=0)  # the same request type again within this window is flagged
    reminder_days: list[int] = Field(default_factory=lambda: [5, 2])  # days-left reminders (plus due today, overdue)
    backup_retention_days: int = Field(30, ge=0)  # backups may hold erased data this long; the customer is told the date
    export_link_minutes: int = Field(60, ge=1, le=10080)  # lifetime of a workbench download link of an export

    @field_validator("reminder_days")
    @classmethod
    def _positive_days(cls, value: list[int]) -> list[int]:
        if any(day < 1 for day in value):
            raise ValueError("days must be at least 1")
        return sorted(set(value), reverse=True)


class BusinessTimeConfig(Section):
    """The business calendar: SLA clocks and working-day deadlines count only open time."""

    timezone: str = "UTC"
    # weekday (mon..sun) -> opening spans "HH:MM-HH:MM"; a weekday not listed is closed
    hours: dict[str, list[str]] = Field(
        default_factory=lambda: {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    )
    holidays: list[date] = Field(default_factory=list)  # closed days
    workdays: list[date] = Field(default_factory=list)  # make-up working days (open with Monday's hours)
    country: str = ""  # public holidays and make-up days from the `holidays` package, e.g. CN

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from bot.core.business_time.calendar import CalendarError, check_spans, parse_span

        for day, spans in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday ({', '.join(WEEKDAYS)})")
            try:
                check_spans([parse_span(span) for span in spans], day)
            except CalendarError as exc:
                raise ValueError(f"{day}: {exc}") from None
        if not any(value.values()):
            raise ValueError("the calendar is never open")
        return value

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        from bot.core.business_time.country import supported

        if value and not supported(value):
            raise ValueError(f"unknown holiday country {value!r}")
        return value.upper()


PRIORITIES = ("low", "normal", "high", "urgent")


def _targets(low: int, normal: int, high: int, urgent: int) -> dict[str, int]:
    return {"low": low, "normal": normal, "high": high, "urgent": urgent}


class SlaConfig(Section):
    """Service-level targets in business time (see business_time) and the work-order categories."""

    enabled: bool = True
    sweep_seconds: float = Field(30.0, gt=0)
    at_risk_percent: int = Field(80, gt=0, lt=100)  # a clock is at risk once this share of its target is used
    # priority -> minutes of business time; all four priorities, each positive
    first_response_minutes: dict[str, int] = Field(default_factory=lambda: _targets(480, 240, 60, 30))
    next_response_minutes: dict[str, int] = Field(default_factory=lambda: _targets(480, 240, 120, 60))
    resolution_minutes: dict[str, int] = Field(default_factory=lambda: _targets(4320, 1440, 480, 240))
    conversation_priority: Literal["low", "normal", "high", "urgent"] = "normal"
    categories: list[str] = Field(default_factory=lambda: ["billing", "delivery", "account", "technical", "other"], min_length=1)

    @field_validator("first_response_minutes", "next_response_minutes", "resolution_minutes")
    @classmethod
    def _every_priority_positive(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) != set(PRIORITIES):
            raise ValueError(f"give minutes for exactly {', '.join(PRIORITIES)}")
        for priority, minutes in value.items():
            if minutes <= 0:
                raise ValueError(f"{priority}: a target must be a positive number of minutes")
        return value

    @field_validator("categories")
    @classmethod
    def _plain_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9_-]{1,40}", name):
                raise ValueError(f"{name!r}: use 1-40 lowercase letters, digits, - or _")
        if len(set(value)) != len(value):
            raise ValueError("a category is listed twice")
        return value


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
    orgs: OrgsConfig = Field(default_factory=OrgsConfig)
    broadcasts: BroadcastsConfig = Field(default_factory=BroadcastsConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    sms: SmsConfig = Field(default_factory=SmsConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    business_time: BusinessTimeConfig = Field(default_factory=BusinessTimeConfig)
    sla: SlaConfig = Field(default_factory=SlaConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @field_validator("secret_key")
    @classmethod
    def _no_weak_secret(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _retention_fits_the_features(self) -> Settings:
        """Periods that other features rely on (the message is the key: see load_settings)."""
        keep = self.retention
        if keep.rights_requests_days is not None and keep.rights_requests_days < self.privacy.repeat_window_days:
            raise ValueError(f"retention.rights_requests_days: must be at least privacy.repeat_window_days"
                             f" ({self.privacy.repeat_window_days}): repeated requests are found among the kept ones")
        if keep.telegram_journal_days is not None and keep.telegram_journal_days * 86400 < self.outbox.max_age_seconds:
            raise ValueError("retention.telegram_journal_days: must cover outbox.max_age_seconds: the journal stops a"
                             " message still in the outbox from being sent twice")
        if keep.attachments_days is not None and keep.messages_days is not None and keep.attachments_days > keep.messages_days:
            raise ValueError("retention.attachments_days: must not exceed retention.messages_days (a file goes with"
                             " or before the message that carried it)")
        return self

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
        if not key:  # a check across sections names its key at the start of the message
            raise ConfigError(str(first["msg"]).removeprefix("Value error, ")) from None
        raise ConfigError(f"{key}: {first['msg']}") from None
    return _with_secret_key(settings)


def _with_secret_key(settings: Settings) -> Settings:
    if settings.secret_key:
        return settings
    if settings.mode == "production":
        raise ConfigError("secret_key: required in production (set INCS_SECRET_KEY)")
    key_file = settings.data_dir / "secret_key"
    if not key_file.exists():
        private_dir(key_file.parent)
        write_private(key_file, secrets.token_urlsafe(48).encode())  # created 0600: never readable by others, not even briefly
    return settings.model_copy(update={"secret_key": key_file.read_text(encoding="utf-8").strip()})
