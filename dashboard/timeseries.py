"""Calendar arithmetic for buckets and KPI periods: wall-clock periods in a time zone, weeks from Monday, and their
names for people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from django.db.models.functions import TruncDay, TruncHour, TruncMonth, TruncQuarter, TruncWeek, TruncYear

TRUNC_BY_BUCKET = {
    "hour": TruncHour,
    "day": TruncDay,
    "week": TruncWeek,
    "month": TruncMonth,
    "quarter": TruncQuarter,
    "year": TruncYear,
}
BUCKETS = tuple(TRUNC_BY_BUCKET)


def bucket_start(moment: datetime, bucket: str, tz: tzinfo) -> datetime:
    """The start of the wall-clock *bucket* in *tz* holding *moment*, as an aware datetime in *tz*.

    Mirrors Django's ``Trunc*(tzinfo=tz)``: truncate the local wall-clock time, then read it in *tz* (for a wall-clock
    time that occurs twice, the first occurrence).
    """
    local = moment.astimezone(tz).replace(tzinfo=None)
    if bucket == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    else:
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if bucket == "week":
            start -= timedelta(days=start.weekday())
        elif bucket == "month":
            start = start.replace(day=1)
        elif bucket == "quarter":
            start = start.replace(month=3 * ((start.month - 1) // 3) + 1, day=1)
        elif bucket == "year":
            start = start.replace(month=1, day=1)
        elif bucket != "day":
            raise ValueError(f"unknown bucket {bucket!r}")
    return start.replace(tzinfo=tz, fold=0)


def _add_months(local: datetime, months: int) -> datetime:
    index = local.year * 12 + (local.month - 1) + months
    return local.replace(year=index // 12, month=index % 12 + 1, day=1)


def period_shift(start: datetime, period: str, steps: int) -> datetime:
    """The start of the period *steps* periods after (or before, if negative) the period starting at *start*."""
    tz = start.tzinfo
    local = start.replace(tzinfo=None)
    if period == "day":
        shifted = local + timedelta(days=steps)
    elif period == "week":
        shifted = local + timedelta(weeks=steps)
    elif period == "month":
        shifted = _add_months(local, steps)
    elif period == "quarter":
        shifted = _add_months(local, 3 * steps)
    elif period == "year":
        shifted = local.replace(year=local.year + steps)
    else:
        raise ValueError(f"unknown period {period!r}")
    return shifted.replace(tzinfo=tz, fold=0)


def buckets_spanned(first: datetime, last: datetime, bucket: str, tz: ZoneInfo) -> int:
    """How many wall-clock *bucket* periods in *tz* run from the one holding *first* to the one holding *last*.

    Counted on the wall clock, so a repeated hour (clocks going back) is one bucket, as in the series; a skipped
    hour (clocks going forward) is counted although it never holds data (an upper bound by at most a few).
    """
    a = bucket_start(first, bucket, tz).replace(tzinfo=None)
    b = bucket_start(last, bucket, tz).replace(tzinfo=None)
    if b < a:
        return 0
    months = (b.year * 12 + b.month) - (a.year * 12 + a.month)
    spans = {
        "hour": lambda: int((b - a).total_seconds() // 3600),
        "day": lambda: (b - a).days,
        "week": lambda: (b - a).days // 7,
        "month": lambda: months,
        "quarter": lambda: months // 3,
        "year": lambda: b.year - a.year,
    }
    return spans[bucket]() + 1


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def period_label(start: datetime, bucket: str, *, short: bool = False) -> str:
    """A human name for the bucket starting at *start* (already in the chart's time zone)."""
    day = f"{MONTHS[start.month - 1]} {start.day}"
    if bucket == "hour":
        return f"{day} {start:%H:%M}" if short else f"{day}, {start.year} {start:%H:%M}"
    if bucket == "day":
        return day if short else f"{day}, {start.year}"
    if bucket == "week":
        return day if short else f"Week of {day}, {start.year}"
    if bucket == "month":
        return f"{(MONTHS if short else MONTH_NAMES)[start.month - 1]} {start.year}"
    if bucket == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    if bucket == "year":
        return str(start.year)
    raise ValueError(f"unknown bucket {bucket!r}")


def bucket_end(start: datetime, bucket: str) -> datetime:
    """The start of the next bucket (wall-clock arithmetic, like the buckets themselves)."""
    if bucket == "hour":
        # In absolute time: wall-clock arithmetic would land in a skipped or repeated hour around DST changes.
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(start.tzinfo)
    return period_shift(start, bucket, 1)


RELATIVE_RANGES = (
    "last_7_days",
    "last_30_days",
    "last_90_days",
    "last_12_months",
    "this_month",
    "this_quarter",
    "this_year",
    "year_to_date",
)


def relative_range(name: str, *, tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of a named range in *tz*'s wall-clock calendar at *now*: ``last_N_days`` are N whole days
    ending with today, ``last_12_months`` twelve whole months ending with this one, ``this_*`` the whole current
    period, ``year_to_date`` from January 1 to *now*."""
    if name.startswith("last_") and name.endswith("_days"):
        today = bucket_start(now, "day", tz)
        return period_shift(today, "day", 1 - int(name.removeprefix("last_").removesuffix("_days"))), period_shift(
            today, "day", 1
        )
    if name == "last_12_months":
        month = bucket_start(now, "month", tz)
        return period_shift(month, "month", -11), period_shift(month, "month", 1)
    if name == "year_to_date":
        return bucket_start(now, "year", tz), now.astimezone(tz)
    if name.startswith("this_"):
        period = name.removeprefix("this_")
        start = bucket_start(now, period, tz)
        return start, period_shift(start, period, 1)
    raise ValueError(f"unknown range {name!r}")
