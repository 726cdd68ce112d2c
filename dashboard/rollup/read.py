"""Reading the rollups: which part of a time range the daily and hourly cells answer exactly, and the one query that
composes those cells with the raw rows of the rest (the partial hours at the edges, or everything in a zone whose
offsets are not whole hours).

A UTC hour lies inside one wall-clock bucket of every size (hour … year) in a zone whose offsets are whole hours and
change on whole UTC hours — DST days of 23 and 25 hours included — so such buckets are sums of hours. Asia/Kolkata
(+05:30) or Asia/Kathmandu (+05:45) buckets start mid-hour: they come from raw rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.db import connections, transaction
from django.db.models import Max, Min, Model, Q, QuerySet

from dashboard.rollup.cells import COMPOSED_COLUMNS, DAY, HOUR, cell_columns, day_of, hour_of, instant, raw_columns
from dashboard.rollup.models import MetricDay, MetricHour
from dashboard.timeseries import TRUNC_BY_BUCKET, bucket_start, period_shift

# Zones are checked over these years; outside them (rare data), buckets in zones other than UTC come from raw rows.
ZONE_CHECK_FROM = datetime(1900, 1, 1, tzinfo=UTC)
ZONE_CHECK_TO = datetime(2100, 1, 1, tzinfo=UTC)
HOUR_SECONDS = 3600
UTC_KEYS = ("UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu", "UCT")
Window = tuple[datetime | None, datetime | None]
# The raw metrics' queryset, passed through (their model imports the rollup, so the rollup cannot name it).
_Metrics = TypeVar("_Metrics", bound=QuerySet[Any])
# A part of a composed query: a ``values()`` queryset of any of the three.
Part = QuerySet[Model, Any]


def _zone_key(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or ("UTC" if tz is UTC else str(tz))


@lru_cache(maxsize=128)
def _zone_hour_bounds(key: str) -> Window | None:
    """The span in which *key*'s offsets are whole hours changing on whole UTC hours (None: unbounded), or None."""
    if key in UTC_KEYS:
        return (None, None)
    zone = ZoneInfo(key)

    def offset(seconds: int) -> int:
        utc_offset = datetime.fromtimestamp(seconds, zone).utcoffset()
        assert utc_offset is not None  # aware (in zone), so it has one
        return int(utc_offset.total_seconds())

    moment, end = int(ZONE_CHECK_FROM.timestamp()), int(ZONE_CHECK_TO.timestamp())
    current = offset(moment)
    if current % HOUR_SECONDS:
        return None
    day = 86400
    while moment < end:
        following = offset(moment + day)
        if following != current:
            # Find the first second of the new offset: the change must fall on a whole UTC hour.
            low, high = moment, moment + day
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            if following % HOUR_SECONDS or high % HOUR_SECONDS:
                return None
            current = following
        moment += day
    return (ZONE_CHECK_FROM, ZONE_CHECK_TO)


def _ceil_hour(moment: datetime) -> datetime:
    floor = hour_of(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


def hour_window(*, start: datetime | None, end: datetime | None, tz: tzinfo | None = None) -> Window | None:
    """``(a, b)``: the whole UTC hours ``[a, b)`` inside ``[start, end)`` whose cells can be used (None: unbounded),
    for buckets in *tz* when given; None when cells answer nothing (an odd zone, a range inside one hour)."""
    low: datetime | None = None
    high: datetime | None = None
    if tz is not None:
        bounds = _zone_hour_bounds(_zone_key(tz))
        if bounds is None:
            return None
        low, high = bounds
    a = _ceil_hour(start) if start is not None else None
    b = hour_of(end) if end is not None else None
    if low is not None:
        a = low if a is None else max(a, low)
    if high is not None:
        b = high if b is None else min(b, high)
    if a is not None and b is not None and a >= b:
        return None
    return a, b


# Above this many UTC days holding a bucket boundary (or half the days in the range), day cells save nothing: the
# series reads hours only (day buckets in a zone off UTC, say).
STRADDLES_MAX = 200


def _ceil_day(moment: datetime) -> datetime:
    floor = day_of(moment)
    return floor if floor == moment else floor + DAY


def _straddles(first: datetime, last: datetime, bucket: str, tz: tzinfo) -> list[datetime] | None:
    """The UTC days in ``[first, last)`` that hold the start of a *bucket* in *tz* after their midnight (their hours
    belong to two buckets), or None when there are too many for day cells to help."""
    if _zone_key(tz) in UTC_KEYS:
        return []  # every bucket starts at a UTC midnight
    days = (last - first) // DAY
    limit = min(STRADDLES_MAX, days // 2)
    found: set[datetime] = set()
    boundary = bucket_start(first, bucket, tz)
    while boundary.astimezone(UTC) < last:
        # The day of the boundary and its neighbours, each kept when its first and last hour fall in two buckets.
        for day in (day_of(boundary) + step * DAY for step in (-1, 0, 1)):
            if first <= day < last and bucket_start(day, bucket, tz) != bucket_start(day + 23 * HOUR, bucket, tz):
                found.add(day)
        if len(found) > limit:
            return None
        boundary = period_shift(boundary, bucket, 1)
    return sorted(found)


def split(
    *,
    metrics: _Metrics,
    cells: QuerySet[MetricHour],
    days: QuerySet[MetricDay] | None = None,
    start: datetime | None,
    end: datetime | None,
    tz: tzinfo | None = None,
    bucket: str | None = None,
) -> tuple[QuerySet[MetricDay] | None, QuerySet[MetricHour] | None, _Metrics | None]:
    """``(day cells, hour cells, raw rows)`` that together hold exactly the *metrics* (already filtered to
    ``[start, end)``) once; any may be None. *cells* and *days* are the hourly and daily rollup under the same
    visibility and name/owner filters. Day cells serve the whole UTC days inside the hours' window that lie inside
    one *bucket* in *tz* (all of them when no bucket is asked: counts and names); hours the rest of the window."""
    window = hour_window(start=start, end=end, tz=tz)
    if window is None:
        return None, None, metrics
    a, b = window
    cells, raw = _hours_and_edges(metrics=metrics, cells=cells, a=a, b=b)
    if days is None or bucket == "hour":
        return None, cells, raw
    span = _day_span(days=days, a=a, b=b, start=start, end=end, tz=tz, bucket=bucket)
    if span is None:
        return None, cells, raw
    first, last, straddles = span
    if first is not None:
        days = days.filter(day__gte=first)
    if last is not None:
        days = days.filter(day__lt=last)
    if straddles:
        days = days.exclude(day__in=straddles)
    by_hour = Q()
    if first is not None:
        by_hour |= Q(hour__lt=first)
    if last is not None:
        by_hour |= Q(hour__gte=last)
    for day in straddles:
        by_hour |= Q(hour__gte=day, hour__lt=day + DAY)
    return days, (cells.filter(by_hour) if by_hour else None), raw


def _hours_and_edges(
    *, metrics: _Metrics, cells: QuerySet[MetricHour], a: datetime | None, b: datetime | None
) -> tuple[QuerySet[MetricHour], _Metrics | None]:
    """The hour cells inside ``[a, b)`` and the raw rows outside it (None when the window is unbounded)."""
    if a is not None:
        cells = cells.filter(hour__gte=a)
    if b is not None:
        cells = cells.filter(hour__lt=b)
    if a is None and b is None:
        return cells, None
    outside = Q()
    if a is not None:
        outside |= Q(timestamp__lt=a)
    if b is not None:
        outside |= Q(timestamp__gte=b)
    return cells, metrics.filter(outside)


def _day_span(
    *,
    days: QuerySet[MetricDay],
    a: datetime | None,
    b: datetime | None,
    start: datetime | None,
    end: datetime | None,
    tz: tzinfo | None,
    bucket: str | None,
) -> tuple[datetime | None, datetime | None, list[datetime]] | None:
    """``(first, last, straddles)``: the whole UTC days ``[first, last)`` of the hours' window ``[a, b)`` that day
    cells may answer, less the *straddles* (days holding a *bucket* start in *tz* after their midnight, read from
    hours); None when day cells answer nothing."""
    first = _ceil_day(a) if a is not None else None
    last = day_of(b) if b is not None else None
    if first is not None and last is not None and first >= last:
        return None
    if bucket is None or _zone_key(tz or UTC) in UTC_KEYS:
        return first, last, []
    if start is None or end is None:  # the zone's checked span bounds the window: narrow it to the data
        extent = days.aggregate(low=Min("day"), high=Max("day"))
        if extent["low"] is None:
            return None
        first = max(first, instant(extent["low"])) if first is not None else instant(extent["low"])
        high = instant(extent["high"]) + DAY
        last = min(last, high) if last is not None else high
        if first >= last:
            return None
    # Bounded by now: a bounded range gave a bounded window, an open one was narrowed above.
    assert first is not None
    assert last is not None
    assert tz is not None  # None is UTC, which returned above
    straddles = _straddles(first, last, bucket, tz)
    if straddles is None:
        return None
    return first, last, straddles


def composed_rows(parts: Sequence[Part | None], outer: str) -> list[tuple[Any, ...]]:
    """Run *outer*, a query over ``u`` (the UNION ALL of the *parts*, ``values()`` querysets with the same aliases
    in the same order), as one query on the parts' database."""
    present = [part.order_by() for part in parts if part is not None]
    using = present[0].db
    selects: list[str] = []
    params: list[Any] = []
    for index, part in enumerate(present):
        sql, part_params = part.query.get_compiler(using=using).as_sql()
        selects.append(f"SELECT * FROM ({sql}) AS p{index}")  # noqa: S608 (SQL compiled by the ORM, with its params)
        params.extend(part_params)
    sql = outer.replace("{union}", " UNION ALL ".join(selects))
    connection = connections[using]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        # No JIT for this query alone: its row estimates (ranges OR'd per boundary day) run far above what it reads,
        # which puts it over jit_above_cost, and compiling took ~115 ms of a 150 ms summary at 10M rows (bench/).
        cursor.cursor.execute("SET LOCAL jit = off")  # a setting, not a read: past the query log and its counts
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        return rows


def composed_parts(
    *,
    days: QuerySet[MetricDay] | None,
    cells: QuerySet[MetricHour] | None,
    raw: QuerySet[Any] | None,
    bucket: str,
    tz: tzinfo,
) -> list[Part]:
    """The parts :func:`split` gave, as ``values()`` querysets of the :data:`COMPOSED_COLUMNS` (``k_t`` each row's
    *bucket* start in *tz*), ready to be one UNION ALL; the missing parts left out."""
    trunc = TRUNC_BY_BUCKET[bucket]
    parts: list[Part] = []
    for part, start in ((days, "day"), (cells, "hour")):
        if part is not None:
            parts.append(part.annotate(**cell_columns(trunc(start, tzinfo=tz))).values(*COMPOSED_COLUMNS))
    if raw is not None:
        parts.append(raw.annotate(**raw_columns(trunc("timestamp", tzinfo=tz))).values(*COMPOSED_COLUMNS))
    return parts


# Every series read is one of these over the composed parts, each part tagged with its group (``k_group``: requests
# sharing a bucket and a range): the aggregates per group, name and bucket, and the last value with its bucket's count.
BATCH_AGGREGATES = (
    "SELECT k_group, k_name, k_t, SUM(k_sum), SUM(k_count), MIN(k_min), MAX(k_max) FROM ({union}) AS u "
    "GROUP BY k_group, k_name, k_t"
)
BATCH_LAST = (
    "SELECT k_group, k_name, k_t, k_last, k_total FROM (SELECT k_group, k_name, k_t, k_last, "
    "ROW_NUMBER() OVER (PARTITION BY k_group, k_name, k_t ORDER BY k_last_ts DESC, k_last_id DESC) AS k_position, "
    "SUM(k_count) OVER (PARTITION BY k_group, k_name, k_t) AS k_total FROM ({union}) AS u) AS w "
    "WHERE k_position = 1"
)
