"""The query parameters every front end reads — a time zone, a local date or datetime, a time range in a zone —
parsed once, framework-neutral: the API's serializers, the staff pages' forms, the alert service and the CLI call these
and turn their errors into their own (a 400's field errors, a form's, a CommandError).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils.dateparse import parse_date, parse_datetime

TIME_ZONE_UNKNOWN = "Unknown time zone {name!r}; use an IANA name such as Europe/Berlin."
DATETIME_INVALID = "Enter an ISO 8601 date or datetime, e.g. 2026-01-31 or 2026-01-31T08:00:00Z."
OUT_OF_RANGE = "Out of range: the instant falls outside years 1-9999 in UTC."
START_AFTER_END = "'from' must not be after 'to'."


class QueryError(ValueError):
    """Bad query parameters: ``errors`` maps each parameter (``from``, ``to``, ``tz`` …) to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone *name*; ValueError (with the message to show) when there is none such."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(TIME_ZONE_UNKNOWN.format(name=name)) from None


def default_time_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def parse_local_datetime(text: str) -> datetime | None:
    """An ISO 8601 datetime or date (midnight) as given, naive or aware; None when *text* is neither."""
    text = text.strip()
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            parsed = datetime.combine(day, time()) if day is not None else None
    except ValueError:
        return None
    return parsed


def local_datetime(text: str) -> datetime:
    """:func:`parse_local_datetime`, with ValueError (the message to show) when *text* is neither."""
    parsed = parse_local_datetime(text) if isinstance(text, str) else None
    if parsed is None:
        raise ValueError(DATETIME_INVALID)
    return parsed


def in_zone(moment: datetime, tz: ZoneInfo) -> datetime:
    """*moment* if aware, else its wall-clock time read in *tz* (the first occurrence of a repeated hour), in UTC;
    OverflowError outside UTC's calendar. Python takes UTC offsets up to ±23:59, PostgreSQL only ±15:59, so nothing
    but UTC reaches SQL."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=tz, fold=0)).astimezone(UTC)


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` in UTC (either open when None) and the zone its naive bounds were read in."""

    start: datetime | None
    end: datetime | None
    tz: ZoneInfo


def time_range(*, start: datetime | None, end: datetime | None, tz: ZoneInfo | None) -> TimeRange:
    """The range ``from`` *start* ``to`` *end* (naive bounds read in *tz*, by default TIME_ZONE); QueryError naming
    the parameter when a bound leaves UTC's calendar or ``from`` is after ``to``."""
    tz = tz or default_time_zone()
    bounds: dict[str, datetime | None] = {}
    for name, moment in (("from", start), ("to", end)):
        try:
            bounds[name] = None if moment is None else in_zone(moment, tz)
        except OverflowError:
            raise QueryError({name: [OUT_OF_RANGE]}) from None
    if bounds["from"] is not None and bounds["to"] is not None and bounds["from"] > bounds["to"]:
        raise QueryError({"from": [START_AFTER_END]})
    return TimeRange(start=bounds["from"], end=bounds["to"], tz=tz)
