"""Each organization's business calendar: its own timezone and, if it sets them, its own opening hours and holiday
country; what it leaves unset comes from the deployment's `business_time` section (holidays and make-up days listed
there always apply).

Calendars are cached by their definition, so a sweep over 100,000 rows builds one per organization (and reuses it
on the next pass); a request pays one primary-key read of three columns. A change of hours applies from then on,
as in Zendesk: due times already stored stay, and each open item moves to the new calendar at its next status or
priority change (`set_business_hours` says so to the admin).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays as holidays_package
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import BusinessTimeConfig, Settings
from bot.core.business_time.calendar import BusinessCalendar, CalendarError, check_spans, parse_span
from bot.core.business_time.config import WEEKDAYS, calendar_from_config
from bot.core.business_time.country import supported
from bot.core.common.errors import InvalidInput
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent, Organization

MAX_SPANS_PER_DAY = 6
# A day's spans the calendar refuses, as the settings form says it (CalendarError's key -> the form's, the day named).
SPAN_REFUSALS = {
    "%(span)s: expected HH:MM-HH:MM": "hours %(day)s: %(span)s: expected HH:MM-HH:MM",
    "%(span)s: the span is empty or inverted": "hours %(day)s: %(span)s: the span is empty or inverted",
    "%(where)s: opening hours overlap": "hours %(day)s: opening hours overlap",
}
BAD_SPANS = "hours %(day)s: spans like 09:00-12:00, 13:00-18:00"


@dataclass
class _Merged:
    """The organization's choices over the deployment's section (what calendar_from_config reads)."""

    timezone: str
    hours: dict[str, list[str]]
    country: str
    holidays: list[date] = field(default_factory=list)
    workdays: list[date] = field(default_factory=list)


@lru_cache(maxsize=256)
def _build(deployment: str, timezone: str, hours: str, country: str | None) -> BusinessCalendar:
    section = BusinessTimeConfig.model_validate_json(deployment)
    return calendar_from_config(_Merged(
        timezone=timezone or section.timezone,
        hours=json.loads(hours) if hours else section.hours,
        country=section.country if country is None else country,
        holidays=section.holidays, workdays=section.workdays,
    ))


def deployment_calendar(settings: Settings) -> BusinessCalendar:
    """The calendar of `business_time` alone (what an organization that sets nothing gets)."""
    return _build(settings.business_time.model_dump_json(), "", "", None)


def calendar_from_columns(
    settings: Settings, timezone: str, hours: Mapping[str, list[str]] | None, country: str | None
) -> BusinessCalendar:
    return _build(settings.business_time.model_dump_json(), timezone or "",
                  json.dumps(hours, sort_keys=True) if hours else "", country)


async def org_calendars(*, session: AsyncSession, settings: Settings, org_ids: Iterable[int]) -> dict[int, BusinessCalendar]:
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    columns = select(Organization.id, Organization.timezone, Organization.business_hours, Organization.holiday_country)
    rows = await session.execute(columns.where(Organization.id == ids[0]) if len(ids) == 1 else columns.where(Organization.id.in_(ids)))
    found = {org_id: calendar_from_columns(settings, tz, hours, country) for org_id, tz, hours, country in rows}
    return {org_id: found.get(org_id) or deployment_calendar(settings) for org_id in ids}


async def org_calendar(*, session: AsyncSession, settings: Settings, org_id: int) -> BusinessCalendar:
    return (await org_calendars(session=session, settings=settings, org_ids=[org_id]))[org_id]


# --- the organization's settings -------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name zoneinfo knows (the settings form offers them)."""
    return tuple(sorted(available_timezones()))


@lru_cache(maxsize=1)
def country_codes() -> tuple[str, ...]:
    return tuple(sorted(holidays_package.list_supported_countries()))


def check_timezone(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone: unknown zone %(zone)s; use a name such as Asia/Shanghai or Europe/Berlin",
                           zone=repr(value[:60])) from None
    return value


def check_hours(days: Mapping[str, str]) -> dict[str, list[str]]:
    """Weekday -> "09:00-12:00, 13:00-18:00" (empty: closed). Refuses bad, inverted or overlapping spans by day."""
    hours: dict[str, list[str]] = {}
    for day in WEEKDAYS:
        texts = [part.strip() for part in days.get(day, "").replace(";", ",").split(",") if part.strip()]
        if len(texts) > MAX_SPANS_PER_DAY:
            raise InvalidInput("hours %(day)s: at most %(limit)s spans a day", day=day, limit=MAX_SPANS_PER_DAY)
        try:
            spans = check_spans([parse_span(text[:20]) for text in texts], day)
        except CalendarError as exc:
            raise InvalidInput(SPAN_REFUSALS.get(exc.key, BAD_SPANS), **{**exc.params, "day": day}) from None
        if spans:
            hours[day] = [f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in spans]
    if not hours:
        raise InvalidInput("hours: open on at least one day (or use the default hours)")
    return hours


def check_country(value: str | None) -> str | None:
    """None: the deployment's; "": no country's public holidays; else a code the `holidays` package knows."""
    if value is None:
        return None
    value = value.strip().upper()
    if value and not supported(value):
        raise InvalidInput("holiday country: unknown country %(country)s", country=repr(value[:10]))
    return value


async def set_business_hours(
    *, session: AsyncSession, actor: Agent, settings: Settings, timezone: str, hours: Mapping[str, str] | None,
    country: str | None,
) -> Organization:
    """An admin sets the organization's calendar (hours None: the deployment's). Validated, then audited."""
    org = await session.get(Organization, actor.org_id)
    assert org is not None  # agent_page lets only organization members here
    zone, own_hours, holiday_country = check_timezone(timezone), check_hours(hours) if hours is not None else None, check_country(country)
    try:  # the whole calendar must be able to produce deadlines
        calendar_from_columns(settings, zone, own_hours, holiday_country)
    except CalendarError:  # each part was checked above: a calendar still refused is one never open
        raise InvalidInput("hours: the calendar cannot produce deadlines; check the opening hours") from None
    org.timezone, org.business_hours, org.holiday_country = zone, own_hours, holiday_country
    await record(session=session, org_id=org.id, actor_type="agent", actor_id=actor.id, action="update_business_hours",
                 subject_type="organization", subject_id=org.id,
                 detail={"timezone": zone or "default", "hours": own_hours or "default",
                         "holiday_country": "default" if holiday_country is None else holiday_country or "none"})
    return org
