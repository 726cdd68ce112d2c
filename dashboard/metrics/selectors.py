"""Reads of metrics: what a user may see, the list, counts and names, and series, every one composed from the
rollup cells and the raw rows the cells cannot answer (:mod:`dashboard.rollup.read`), in the database."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypedDict
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Avg, BigIntegerField, Count, F, Max, Min, QuerySet, Sum, Value, Window
from django.db.models.functions import RowNumber

from accounts.models import User
from core.db_routers import read_alias, replica_reads
from dashboard.exceptions import TooManyPoints
from dashboard.metrics.models import Metric
from dashboard.rollup.cells import instant, wall_clock
from dashboard.rollup.models import MetricDay, MetricHour, MetricTotal
from dashboard.rollup.read import BATCH_AGGREGATES, BATCH_LAST, composed_parts, composed_rows, split
from dashboard.timeseries import (
    BUCKETS,
    TRUNC_BY_BUCKET,
    buckets_spanned,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

VIEW_ALL_METRICS = "dashboard.view_all_metrics"


AGGREGATE_FUNCTIONS = {"sum": Sum, "avg": Avg, "min": Min, "max": Max, "count": Count}


@dataclass(frozen=True)
class MetricFilters:
    """Validated list filters (see the API's query serializer)."""

    name: str | None = None
    names: tuple[str, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None
    owner: int | None = None
    ordering: str | None = None


@dataclass(frozen=True)
class Point:
    t: datetime
    value: float
    count: int


def metrics_visible_to(user: User) -> QuerySet[Metric]:
    """The one rule of visibility: one's own metrics, or all of them with ``dashboard.view_all_metrics``."""
    return _visible(Metric.objects.all(), user)


def _visible(rows: QuerySet, user: User) -> QuerySet:
    """*rows* (metrics or their rollup cells) narrowed to what *user* may see."""
    if user.has_perm(VIEW_ALL_METRICS):
        return rows
    return rows.filter(owner_id=user.pk)


def _filter_metrics(metrics: QuerySet[Metric], filters: MetricFilters) -> QuerySet[Metric]:
    if filters.name is not None:
        metrics = metrics.filter(name=filters.name)
    if filters.names is not None:
        metrics = metrics.filter(name__in=filters.names)
    if filters.start is not None:
        metrics = metrics.filter(timestamp__gte=filters.start)
    if filters.end is not None:
        metrics = metrics.filter(timestamp__lt=filters.end)
    if filters.owner is not None:
        metrics = metrics.filter(owner_id=filters.owner)
    return metrics


def _filter_cells(cells: QuerySet, filters: MetricFilters) -> QuerySet:
    """Rollup rows (cells or totals) under the filters they can answer; the time range is
    :func:`~dashboard.rollup.read.split`'s."""
    if filters.name is not None:
        cells = cells.filter(name=filters.name)
    if filters.names is not None:
        cells = cells.filter(name__in=filters.names)
    if filters.owner is not None:
        cells = cells.filter(owner_id=filters.owner)
    return cells


def _split(
    user: User, filters: MetricFilters, tz: ZoneInfo | None = None, bucket: str | None = None
) -> tuple[QuerySet | None, QuerySet | None, QuerySet | None]:
    """``(day cells, hour cells, raw rows)`` holding exactly the visible metrics under *filters*, each once (each
    cell inside one *bucket* in *tz* when given)."""
    return split(
        metrics=_filter_metrics(metrics_visible_to(user), filters),
        cells=_filter_cells(_visible(MetricHour.objects.all(), user), filters),
        days=_filter_cells(_visible(MetricDay.objects.all(), user), filters),
        start=filters.start,
        end=filters.end,
        tz=tz,
        bucket=bucket,
    )


def metric_list(*, user: User, filters: MetricFilters) -> QuerySet[Metric]:
    """The list and the export: read from the replica when there is one (a queryset, evaluated later, so bound)."""
    metrics = _filter_metrics(metrics_visible_to(user), filters).order_by(filters.ordering or "-timestamp", "-id")
    return metrics.using(read_alias(user))


@replica_reads
def metric_count(*, user: User, filters: MetricFilters) -> int:
    """How many metrics :func:`metric_list` holds, counted from the rollup (plus raw rows at unaligned edges)."""
    if filters.start is None and filters.end is None:
        totals = _filter_cells(_visible(MetricTotal.objects.all(), user), filters)
        return int(totals.aggregate(count=Sum("value_count"))["count"] or 0)
    days, cells, raw = _split(user, filters)
    parts = [
        *(part.values(k_count=F("value_count")) if part is not None else None for part in (days, cells)),
        raw.values(k_count=Value(1, output_field=BigIntegerField())) if raw is not None else None,
    ]
    ((count,),) = composed_rows(parts, "SELECT SUM(k_count) FROM ({union}) AS u")
    return int(count or 0)


@replica_reads
def metric_names(*, user: User, filters: MetricFilters) -> list[dict]:
    """``[{name, count, first, last}]`` over the visible metrics, by name; from the rollup, in one query."""
    if filters.start is None and filters.end is None:
        totals = _filter_cells(_visible(MetricTotal.objects.all(), user), filters)
        rows = (
            totals.values("name")
            .annotate(count=Sum("value_count"), first=Min("first_timestamp"), last=Max("last_timestamp"))
            .order_by("name")
        )
        return [{**row, "count": int(row["count"])} for row in rows]
    days, cells, raw = _split(user, filters)
    parts = [
        *(
            part.values(
                k_name=F("name"), k_count=F("value_count"), k_first=F("first_timestamp"), k_last=F("last_timestamp")
            )
            if part is not None
            else None
            for part in (days, cells)
        ),
        raw.values(
            k_name=F("name"),
            k_count=Value(1, output_field=BigIntegerField()),
            k_first=F("timestamp"),
            k_last=F("timestamp"),
        )
        if raw is not None
        else None,
    ]
    rows = composed_rows(
        parts,
        "SELECT k_name, SUM(k_count), MIN(k_first), MAX(k_last) FROM ({union}) AS u GROUP BY k_name ORDER BY k_name",
    )
    return [
        {"name": name, "count": int(count), "first": instant(first), "last": instant(last)}
        for name, count, first, last in rows
    ]


class _BucketStart(TypedDict):
    t: datetime


def _bucketed(metrics: QuerySet[Metric], bucket: str, tz: ZoneInfo) -> QuerySet[WithAnnotations[Metric, _BucketStart]]:
    return metrics.annotate(t=TRUNC_BY_BUCKET[bucket]("timestamp", tzinfo=tz))


def _composed_parts(user: User, filters: MetricFilters, bucket: str, tz: ZoneInfo) -> list[QuerySet]:
    """Day cells, hour cells and raw rows of the visible metrics under *filters*, as the parts of one composed query
    (``k_t`` their *bucket* start in *tz*)."""
    days, cells, raw = _split(user, filters, tz, bucket)
    return composed_parts(days=days, cells=cells, raw=raw, bucket=bucket, tz=tz)


def bucket_points(metrics: QuerySet[Metric], *, bucket: str, agg: str, tz: ZoneInfo) -> list[Point]:
    """Aggregate *metrics* per wall-clock bucket in *tz*, in one query; only buckets that hold data.

    ``last`` is the value with the latest timestamp in the bucket, ties going to the highest id.
    """
    bucketed = _bucketed(metrics.order_by(), bucket, tz)
    rows: QuerySet[Metric, tuple[datetime, float, int]]
    if agg == "last":
        rows = (
            bucketed.annotate(
                position=Window(RowNumber(), partition_by=[F("t")], order_by=[F("timestamp").desc(), F("id").desc()]),
                bucket_count=Window(Count("id"), partition_by=[F("t")]),
            )
            .filter(position=1)
            .values_list("t", "value", "bucket_count")
            .order_by("t")
        )
    else:
        rows = (
            bucketed.values("t")
            .annotate(result=AGGREGATE_FUNCTIONS[agg]("value" if agg != "count" else "id"), bucket_count=Count("id"))
            .values_list("t", "result", "bucket_count")
            .order_by("t")
        )
    return [Point(t=t.astimezone(tz), value=float(value), count=count) for t, value, count in rows]


# No range of years fits more buckets than this, so a yearly series needs no look at the data's extent.
YEARS_REPRESENTABLE = 9999


def _too_many_points(first: datetime, last: datetime, bucket: str, tz: ZoneInfo) -> TooManyPoints | None:
    """TooManyPoints when ``[first, last]`` spans more *bucket* periods than ``SERIES_MAX_POINTS``, else None."""
    limit = settings.SERIES_MAX_POINTS
    points = buckets_spanned(first, last, bucket, tz)
    if points <= limit:
        return None
    finest = next((b for b in BUCKETS if buckets_spanned(first, last, b, tz) <= limit), None)
    return TooManyPoints(bucket=bucket, points=points, max_points=limit, finest_fitting=finest)


def _unbounded_by_years(bucket: str) -> bool:
    return bucket == "year" and settings.SERIES_MAX_POINTS >= YEARS_REPRESENTABLE


def series_sizes_check(
    *, user: User, requests: list[SeriesRequest], tz: ZoneInfo
) -> dict[SeriesRequest, TooManyPoints]:
    """The requests whose range holds more *bucket* periods than ``SERIES_MAX_POINTS``, with their error, in one query
    for the extents of the names with an open end (an open end is the visible data's first or last timestamp, read
    from the totals; no query when every range is closed)."""
    open_names = sorted(
        {r.name for r in requests if (r.start is None or r.end is None) and not _unbounded_by_years(r.bucket)}
    )
    extents = {}
    if open_names:
        totals = _filter_cells(_visible(MetricTotal.objects.all(), user), MetricFilters(names=tuple(open_names)))
        rows = totals.values("name").annotate(first=Min("first_timestamp"), last=Max("last_timestamp"))
        extents = {row["name"]: (row["first"], row["last"]) for row in rows}
    errors = {}
    for request in requests:
        if _unbounded_by_years(request.bucket):
            continue
        first = request.start
        last = request.end - timedelta(microseconds=1) if request.end is not None else None
        if first is None or last is None:
            if request.name not in extents:
                continue  # no visible data: an empty series
            first = first or extents[request.name][0]
            last = last or extents[request.name][1]
        error = _too_many_points(first, last, request.bucket, tz)
        if error is not None:
            errors[request] = error
    return errors


@replica_reads
def metric_series(
    *, user: User, name: str, bucket: str, agg: str, tz: ZoneInfo, start: datetime | None, end: datetime | None
) -> list[Point]:
    """The series of *name* (see the API); TooManyPoints when the range holds more than ``SERIES_MAX_POINTS``."""
    request = SeriesRequest(name=name, bucket=bucket, agg=agg, start=start, end=end)
    return series_checked(user=user, request=request, tz=tz)


def series_checked(*, user: User, request: SeriesRequest, tz: ZoneInfo) -> list[Point]:
    """One series through the batch path, after its size check (TooManyPoints)."""
    error = series_sizes_check(user=user, requests=[request], tz=tz).get(request)
    if error is not None:
        raise error
    return metric_series_batch(user=user, requests=[request], tz=tz)[request]


@dataclass(frozen=True)
class SeriesRequest:
    """One series to compute: what ``metrics/series`` (or ``kpis/{id}/series``) takes."""

    name: str
    bucket: str
    agg: str
    start: datetime | None
    end: datetime | None


@replica_reads
def metric_series_batch(*, user: User, requests: list[SeriesRequest], tz: ZoneInfo) -> dict[SeriesRequest, list[Point]]:
    """:func:`metric_series` of every request, in one query (two when some ask for ``last``) whatever their number:
    requests sharing a bucket and a range form one group over all their names, and every group is one part of the
    same UNION ALL, keyed by its number."""
    groups: dict[tuple, set[str]] = defaultdict(set)
    for request in requests:
        groups[(request.bucket, request.start, request.end)].add(request.name)
    keys = list(groups)
    needs_last = {(r.bucket, r.start, r.end) for r in requests if r.agg == "last"}
    needs_other = {(r.bucket, r.start, r.end) for r in requests if r.agg != "last"}
    values: dict[tuple[int, str, str, datetime], float] = {}

    def parts_of(selected: set) -> list:
        parts = []
        for number, key in enumerate(keys):
            if key not in selected:
                continue
            bucket, start, end = key
            filters = MetricFilters(names=tuple(sorted(groups[key])), start=start, end=end)
            for part in _composed_parts(user, filters, bucket, tz):
                parts.append(part.annotate(k_group=Value(number, output_field=BigIntegerField())))
        return parts

    if needs_other:
        for number, name, t, total, count, low, high in composed_rows(parts_of(needs_other), BATCH_AGGREGATES):
            start, count = wall_clock(t, tz), int(count)
            values.update(
                {
                    (number, name, "sum", start): float(total),
                    (number, name, "avg", start): float(total) / count,
                    (number, name, "min", start): float(low),
                    (number, name, "max", start): float(high),
                    (number, name, "count", start): float(count),
                }
            )
    counts: dict[tuple[int, str, datetime], int] = {
        (number, name, t): int(value) for (number, name, kind, t), value in values.items() if kind == "count"
    }
    if needs_last:
        for number, name, t, last, count in composed_rows(parts_of(needs_last), BATCH_LAST):
            start = wall_clock(t, tz)
            values[(number, name, "last", start)] = float(last)
            counts[(number, name, start)] = int(count)
    by_group: dict[tuple[int, str, str], list[datetime]] = defaultdict(list)
    for number, name, kind, t in values:
        by_group[(number, name, kind)].append(t)
    result = {}
    for request in requests:
        number = keys.index((request.bucket, request.start, request.end))
        starts = sorted(by_group.get((number, request.name, request.agg), []), key=lambda t: t.astimezone(UTC))
        result[request] = [
            Point(t=t, value=values[(number, request.name, request.agg, t)], count=counts[(number, request.name, t)])
            for t in starts
        ]
    return result
