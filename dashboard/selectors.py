"""Reads of dashboard data. Everything is computed over the metrics the caller may see, in the database."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Avg, BigIntegerField, Count, F, Max, Min, Prefetch, Q, QuerySet, Sum, Value, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from accounts.models import User
from core.db_routers import read_alias, replica_reads
from dashboard import rollup
from dashboard.exceptions import TooManyPoints
from dashboard.models import (
    KPI,
    AlertDelivery,
    AlertEvent,
    AlertRule,
    Board,
    Metric,
    MetricDay,
    MetricHour,
    MetricTotal,
    Panel,
    Upload,
)
from dashboard.query import in_zone, parse_local_datetime
from dashboard.timeseries import (
    BUCKETS,
    TRUNC_BY_BUCKET,
    bucket_start,
    buckets_spanned,
    period_shift,
    relative_range,
)

VIEW_ALL_METRICS = "dashboard.view_all_metrics"
AGGREGATE_FUNCTIONS = {"sum": Sum, "avg": Avg, "min": Min, "max": Max, "count": Count}
KPI_SERIES_DEFAULT_PERIODS = 12


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


def uploads_visible_to(user: User) -> QuerySet[Upload]:
    uploads = Upload.objects.all()
    if user.has_perm(VIEW_ALL_METRICS):
        return uploads
    return uploads.filter(created_by_id=user.pk)


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
    """Rollup rows (cells or totals) under the filters they can answer; the time range is :func:`rollup.split`'s."""
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
    return rollup.split(
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
    ((count,),) = rollup.composed_rows(parts, "SELECT SUM(k_count) FROM ({union}) AS u")
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
    rows = rollup.composed_rows(
        parts,
        "SELECT k_name, SUM(k_count), MIN(k_first), MAX(k_last) FROM ({union}) AS u GROUP BY k_name ORDER BY k_name",
    )
    return [
        {"name": name, "count": int(count), "first": rollup.instant(first), "last": rollup.instant(last)}
        for name, count, first, last in rows
    ]


def _bucketed(metrics: QuerySet[Metric], bucket: str, tz: ZoneInfo) -> QuerySet[Metric]:
    return metrics.annotate(t=TRUNC_BY_BUCKET[bucket]("timestamp", tzinfo=tz))


COMPOSED_AGGREGATES = (
    "SELECT k_name, k_t, SUM(k_sum), SUM(k_count), MIN(k_min), MAX(k_max) FROM ({union}) AS u "
    "GROUP BY k_name, k_t ORDER BY k_t"
)
COMPOSED_LAST = (
    "SELECT k_name, k_t, k_last, k_total FROM (SELECT k_name, k_t, k_last, "
    "ROW_NUMBER() OVER (PARTITION BY k_name, k_t ORDER BY k_last_ts DESC, k_last_id DESC) AS k_position, "
    "SUM(k_count) OVER (PARTITION BY k_name, k_t) AS k_total FROM ({union}) AS u) AS w "
    "WHERE k_position = 1 ORDER BY k_t"
)
COLUMNS = ("k_name", "k_t", "k_sum", "k_count", "k_min", "k_max", "k_last_ts", "k_last_id", "k_last")


def _composed_parts(user: User, filters: MetricFilters, bucket: str, tz: ZoneInfo) -> tuple[QuerySet | None, ...]:
    """Day cells, hour cells and raw rows of the visible metrics under *filters*, each with the :data:`COLUMNS`
    (``k_t`` its *bucket* in *tz*); any may be None."""
    days, cells, raw = _split(user, filters, tz, bucket)
    trunc = TRUNC_BY_BUCKET[bucket]
    rolled = []
    for part, start in ((days, "day"), (cells, "hour")):
        if part is not None:
            part = part.annotate(**rollup.cell_columns(trunc(start, tzinfo=tz))).values(*COLUMNS)
        rolled.append(part)
    if raw is not None:
        raw = raw.annotate(
            k_name=F("name"),
            k_t=trunc("timestamp", tzinfo=tz),
            k_sum=F("value"),
            k_count=Value(1, output_field=BigIntegerField()),
            k_min=F("value"),
            k_max=F("value"),
            k_last_ts=F("timestamp"),
            k_last_id=F("id"),
            k_last=F("value"),
        ).values(*COLUMNS)
    return (*rolled, raw)


def _composed_values(
    user: User,
    filters: MetricFilters,
    *,
    bucket: str,
    tz: ZoneInfo,
    aggregations: set[str],
) -> dict[tuple[str, str, datetime], float]:
    """``{(name, aggregation, bucket start): value}`` plus ``(name, "count", start)``, composed from rollup cells
    and raw rows: one query, or two for ``last`` besides other aggregations."""
    parts = _composed_parts(user, filters, bucket, tz)
    values: dict[tuple[str, str, datetime], float] = {}
    if aggregations - {"last"}:
        for name, t, total, count, low, high in rollup.composed_rows(parts, COMPOSED_AGGREGATES):
            start = rollup.wall_clock(t, tz)
            count = int(count)
            values.update(
                {
                    (name, "sum", start): float(total),
                    (name, "avg", start): float(total) / count,
                    (name, "min", start): float(low),
                    (name, "max", start): float(high),
                    (name, "count", start): float(count),
                }
            )
    if "last" in aggregations:
        for name, t, last, count in rollup.composed_rows(parts, COMPOSED_LAST):
            start = rollup.wall_clock(t, tz)
            values[(name, "last", start)] = float(last)
            values[(name, "count", start)] = float(count)
    return values


def _composed_points(user: User, filters: MetricFilters, *, bucket: str, agg: str, tz: ZoneInfo) -> list[Point]:
    """:func:`bucket_points` of the visible metrics under *filters*, composed from the rollup: one query."""
    values = _composed_values(user, filters, bucket=bucket, tz=tz, aggregations={agg})
    starts = sorted((t for _, kind, t in values if kind == agg), key=lambda t: t.astimezone(UTC))
    name = filters.name
    return [Point(t=t, value=values[(name, agg, t)], count=int(values[(name, "count", t)])) for t in starts]


def bucket_points(metrics: QuerySet[Metric], *, bucket: str, agg: str, tz: ZoneInfo) -> list[Point]:
    """Aggregate *metrics* per wall-clock bucket in *tz*, in one query; only buckets that hold data.

    ``last`` is the value with the latest timestamp in the bucket, ties going to the highest id.
    """
    bucketed = _bucketed(metrics.order_by(), bucket, tz)
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


def series_size_check(
    *, user: User, name: str, bucket: str, tz: ZoneInfo, start: datetime | None, end: datetime | None
) -> None:
    """Raise TooManyPoints when ``[start, end)`` holds more *bucket* periods than ``SERIES_MAX_POINTS``, before any
    series query. An open end is the visible data's first or last timestamp of *name* (read from the totals)."""
    if _unbounded_by_years(bucket):
        return
    first, last = start, (end - timedelta(microseconds=1) if end is not None else None)
    if first is None or last is None:
        totals = _filter_cells(_visible(MetricTotal.objects.all(), user), MetricFilters(name=name))
        extent = totals.aggregate(first=Min("first_timestamp"), last=Max("last_timestamp"))
        if extent["first"] is None:
            return
        first = first or extent["first"]
        last = last or extent["last"]
    error = _too_many_points(first, last, bucket, tz)
    if error is not None:
        raise error


def series_sizes_check(
    *, user: User, requests: list[SeriesRequest], tz: ZoneInfo
) -> dict[SeriesRequest, TooManyPoints]:
    """:func:`series_size_check` of every request at once: the ones over ``SERIES_MAX_POINTS`` with their error, in
    one query for the extents of the names with an open end (none when every range is closed)."""
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
    series_size_check(user=user, name=name, bucket=bucket, tz=tz, start=start, end=end)
    return _composed_points(user, MetricFilters(name=name, start=start, end=end), bucket=bucket, agg=agg, tz=tz)


# --- KPIs ---------------------------------------------------------------------------------------------------


def kpi_list() -> QuerySet[KPI]:
    return KPI.objects.select_related("created_by").order_by("name", "id")


def kpi_default_range(*, kpi: KPI, tz: ZoneInfo, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last 12 periods of *kpi*, the current one included: ``[start, end)``."""
    current = bucket_start(now or timezone.now(), kpi.period, tz)
    return period_shift(current, kpi.period, 1 - KPI_SERIES_DEFAULT_PERIODS), period_shift(current, kpi.period, 1)


@replica_reads
def kpi_series(*, user: User, kpi: KPI, tz: ZoneInfo, start: datetime | None, end: datetime | None) -> list[Point]:
    if start is None and end is None:
        start, end = kpi_default_range(kpi=kpi, tz=tz)
    series_size_check(user=user, name=kpi.metric_name, bucket=kpi.period, tz=tz, start=start, end=end)
    filters = MetricFilters(name=kpi.metric_name, start=start, end=end)
    return _composed_points(user, filters, bucket=kpi.period, agg=kpi.aggregation, tz=tz)


@dataclass(frozen=True)
class PeriodValue:
    """A KPI's value over the period starting at ``period_start`` (None without data)."""

    period_start: datetime
    value: float | None


@dataclass(frozen=True)
class PeriodToDate:
    """A KPI's value over ``[period_start, end)``: a period cut at the point the current one has reached."""

    period_start: datetime
    end: datetime
    value: float | None


@dataclass(frozen=True)
class KPIStatus:
    """One row of the summary, in the contract's shape (the API serializes it as it is)."""

    kpi: KPI
    current: PeriodValue
    previous: PeriodValue
    previous_to_date: PeriodToDate
    change_pct: float | None
    change_to_date_pct: float | None
    progress_pct: float | None
    status: str

    @property
    def previous_is_whole(self) -> bool:
        """Whether the to-date cut reaches the end of the previous period (so both changes compare the same)."""
        return self.previous_to_date.end >= self.current.period_start


def change_pct(current: float | None, previous: float | None) -> float | None:
    """(current - previous) / |previous| * 100; None when either is missing or previous is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return finite_or_none((current - previous) / abs(previous) * 100)


def finite_or_none(value: float) -> float | None:
    """*value*, or None when it overflowed a float (a ratio of values near the float range): JSON has no infinity."""
    return value if math.isfinite(value) else None


def kpi_status(*, kpi: KPI, current: float | None, previous: float | None) -> tuple[float | None, float | None, str]:
    """``(change_pct, progress_pct, status)`` by the contract's arithmetic."""
    change = change_pct(current, previous)
    progress = None
    if current is not None and kpi.target is not None and kpi.target != 0:
        progress = finite_or_none(current / kpi.target * 100)
    if current is None:
        return change, progress, KPI.Status.NO_DATA
    band = kpi.warning_band()
    if band is None:
        return change, progress, KPI.Status.NO_TARGET
    low, high = band
    if kpi.direction == KPI.Direction.UP:
        if current >= kpi.target:
            return change, progress, KPI.Status.ON_TRACK
        return change, progress, KPI.Status.AT_RISK if current >= low else KPI.Status.OFF_TRACK
    if current <= kpi.target:
        return change, progress, KPI.Status.ON_TRACK
    return change, progress, KPI.Status.AT_RISK if current <= high else KPI.Status.OFF_TRACK


PeriodValues = dict[str, dict[tuple[str, str, datetime], float]]
ToDateValues = dict[tuple[str, str, str], float]


def _recent_values(
    *, user: User, kpis: list[KPI], tz: ZoneInfo, now: datetime, periods: int, to_date: bool = False
) -> tuple[PeriodValues, ToDateValues]:
    """``{period: {(metric_name, aggregation, bucket start): value}}`` over the last *periods* periods of each KPI
    period, the current one included (with ``(name, "count", start)``), and, with *to_date*,
    ``{(period, metric_name, aggregation): value}`` over each previous period up to its to-date cut: all of it in
    one query (two when a KPI aggregates by ``last``), whatever the number of KPIs and periods."""
    recent: dict[KPI, SeriesRequest] = {}
    cut_of: dict[KPI, SeriesRequest] = {}
    for kpi in kpis:
        current_start, previous_start, cut = _periods_around(now, kpi.period, tz)
        start, end = period_shift(current_start, kpi.period, 1 - periods), period_shift(current_start, kpi.period, 1)
        recent[kpi] = SeriesRequest(kpi.metric_name, kpi.period, kpi.aggregation, start, end)
        if to_date:
            cut_of[kpi] = SeriesRequest(kpi.metric_name, kpi.period, kpi.aggregation, previous_start, cut)
    points = metric_series_batch(user=user, requests=list({*recent.values(), *cut_of.values()}), tz=tz)
    values: PeriodValues = {kpi.period: {} for kpi in kpis}
    for kpi, request in recent.items():
        for point in points[request]:
            values[kpi.period][(kpi.metric_name, kpi.aggregation, point.t)] = point.value
            values[kpi.period][(kpi.metric_name, "count", point.t)] = float(point.count)
    to_date_values: ToDateValues = {}
    for kpi, request in cut_of.items():
        for point in points[request]:
            if point.t == request.start:
                to_date_values[(kpi.period, kpi.metric_name, kpi.aggregation)] = point.value
    return values, to_date_values


def to_date_cut(*, now: datetime, current_start: datetime, previous_start: datetime) -> datetime:
    """The moment as far into the previous period as *now* is into the current one, in wall-clock time
    (Dec 2, 10:00 → Nov 2, 10:00), never past the previous period's end (Mar 31 → the end of February)."""
    tz = current_start.tzinfo
    elapsed = now.astimezone(tz).replace(tzinfo=None) - current_start.replace(tzinfo=None)
    cut = (previous_start.replace(tzinfo=None) + elapsed).replace(tzinfo=tz, fold=0)
    return min(cut, current_start, key=lambda moment: moment.astimezone(UTC))


def _periods_around(now: datetime, period: str, tz: ZoneInfo) -> tuple[datetime, datetime, datetime]:
    """``(current start, previous start, the to-date cut in the previous period)``."""
    current_start = bucket_start(now, period, tz)
    previous_start = period_shift(current_start, period, -1)
    return (
        current_start,
        previous_start,
        to_date_cut(now=now, current_start=current_start, previous_start=previous_start),
    )


def _summary_rows(
    *, kpis: list[KPI], tz: ZoneInfo, now: datetime, values: PeriodValues, to_date: ToDateValues
) -> list[KPIStatus]:
    """The summary of *kpis* from *values* (which hold at least their current and previous periods)."""
    rows = []
    for kpi in kpis:
        current_start, previous_start, cut = _periods_around(now, kpi.period, tz)
        period_values = values[kpi.period]
        current = period_values.get((kpi.metric_name, kpi.aggregation, current_start))
        previous = period_values.get((kpi.metric_name, kpi.aggregation, previous_start))
        previous_to_date = to_date.get((kpi.period, kpi.metric_name, kpi.aggregation))
        change, progress, status = kpi_status(kpi=kpi, current=current, previous=previous)
        rows.append(
            KPIStatus(
                kpi=kpi,
                current=PeriodValue(current_start, current),
                previous=PeriodValue(previous_start, previous),
                previous_to_date=PeriodToDate(previous_start, cut, previous_to_date),
                change_pct=change,
                change_to_date_pct=change_pct(current, previous_to_date),
                progress_pct=progress,
                status=status,
            )
        )
    return rows


def _recent_series(*, kpis: list[KPI], tz: ZoneInfo, values: PeriodValues) -> dict[int, list[Point]]:
    series: dict[int, list[Point]] = {}
    for kpi in kpis:
        period_values = values[kpi.period]
        starts = sorted(t for name, agg, t in period_values if name == kpi.metric_name and agg == kpi.aggregation)
        series[kpi.pk] = [
            Point(
                t=t.astimezone(tz),
                value=period_values[(kpi.metric_name, kpi.aggregation, t)],
                count=int(period_values[(kpi.metric_name, "count", t)]),
            )
            for t in starts
        ]
    return series


@replica_reads
def kpi_summary(*, user: User, tz: ZoneInfo, now: datetime | None = None) -> list[KPIStatus]:
    """Every KPI against its target for the current and previous period in *tz*, and the previous period to date;
    a bounded number of queries (one for the KPIs, one for the values, one more for ``last``)."""
    now = now or timezone.now()
    kpis = list(kpi_list())
    values, to_date = _recent_values(user=user, kpis=kpis, tz=tz, now=now, periods=2, to_date=True)
    return _summary_rows(kpis=kpis, tz=tz, now=now, values=values, to_date=to_date)


@replica_reads
def kpi_overview(
    *, user: User, tz: ZoneInfo, now: datetime | None = None
) -> tuple[list[KPIStatus], dict[int, list[Point]]]:
    """:func:`kpi_summary` and :func:`kpi_recent_series` of every KPI together, reading each period once."""
    now = now or timezone.now()
    kpis = list(kpi_list())
    values, to_date = _recent_values(
        user=user, kpis=kpis, tz=tz, now=now, periods=KPI_SERIES_DEFAULT_PERIODS, to_date=True
    )
    return _summary_rows(kpis=kpis, tz=tz, now=now, values=values, to_date=to_date), _recent_series(
        kpis=kpis, tz=tz, values=values
    )


@replica_reads
def kpi_current_values(
    *, user: User, kpis: list[KPI], tz: ZoneInfo, now: datetime | None = None
) -> dict[int, tuple[datetime, float | None]]:
    """``{kpi id: (current period start, value or None)}`` over what *user* may see, as the summary's ``current``
    gives them, in at most two queries whatever the number of KPIs."""
    now = now or timezone.now()
    values, _ = _recent_values(user=user, kpis=kpis, tz=tz, now=now, periods=1)
    result: dict[int, tuple[datetime, float | None]] = {}
    for kpi in kpis:
        start = bucket_start(now, kpi.period, tz)
        result[kpi.pk] = (start, values[kpi.period].get((kpi.metric_name, kpi.aggregation, start)))
    return result


@replica_reads
def kpi_recent_series(
    *, user: User, kpis: list[KPI], tz: ZoneInfo, now: datetime | None = None
) -> dict[int, list[Point]]:
    """``{kpi id: points}`` over each KPI's default range (its last 12 periods), as :func:`kpi_series` gives them one
    by one, in at most two queries whatever the number of KPIs."""
    now = now or timezone.now()
    values, _ = _recent_values(user=user, kpis=kpis, tz=tz, now=now, periods=KPI_SERIES_DEFAULT_PERIODS)
    return _recent_series(kpis=kpis, tz=tz, values=values)


# --- Alerts -------------------------------------------------------------------------------------------------


def alert_rules_visible_to(user: User) -> QuerySet[AlertRule]:
    """The rules *user* created (superusers: every rule)."""
    rules = AlertRule.objects.select_related("kpi", "created_by")
    if user.is_superuser:
        return rules
    return rules.filter(created_by_id=user.pk)


def alert_events_of(*, rule: AlertRule) -> QuerySet[AlertEvent]:
    """A rule's events, newest first, with every delivery attempt (one query for them, whatever the page size)."""
    attempts = AlertDelivery.objects.order_by("id")
    return rule.events.order_by("-created_at", "-id").prefetch_related(Prefetch("deliveries", queryset=attempts))


def alert_firing_kpi_ids(*, user: User, kpi_ids: list[int]) -> set[int]:
    """Which of *kpi_ids* have a firing rule among the rules *user* sees (one query)."""
    firing = alert_rules_visible_to(user).filter(kpi_id__in=kpi_ids, state=AlertRule.State.FIRING)
    return set(firing.order_by().values_list("kpi_id", flat=True).distinct())


# --- Boards -------------------------------------------------------------------------------------------------


def boards_visible_to(user: User) -> QuerySet[Board]:
    """The boards *user* owns or that are shared with one of its roles (superusers: every board), with their
    panels and roles (two queries for any number of boards)."""
    boards = Board.objects.prefetch_related(
        Prefetch("panels", queryset=Panel.objects.select_related("kpi").order_by("position", "id")), "shared_with"
    ).order_by("name", "id")
    if user.is_superuser:
        return boards
    shared = Board.shared_with.through.objects.filter(group__user=user).values("board_id")
    return boards.filter(Q(owner_id=user.pk) | Q(pk__in=shared))


@dataclass(frozen=True)
class SeriesRequest:
    """One series to compute: what ``metrics/series`` (or ``kpis/{id}/series``) takes."""

    name: str
    bucket: str
    agg: str
    start: datetime | None
    end: datetime | None


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
                if part is not None:
                    parts.append(part.annotate(k_group=Value(number, output_field=BigIntegerField())))
        return parts

    if needs_other:
        for number, name, t, total, count, low, high in rollup.composed_rows(parts_of(needs_other), BATCH_AGGREGATES):
            start, count = rollup.wall_clock(t, tz), int(count)
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
        for number, name, t, last, count in rollup.composed_rows(parts_of(needs_last), BATCH_LAST):
            start = rollup.wall_clock(t, tz)
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


def panel_range_resolve(*, panel: Panel, tz: ZoneInfo, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The panel's ``[start, end)`` for a request in *tz* at *now* (``(None, None)`` without a range)."""
    if panel.range is None:
        return None, None
    if isinstance(panel.range, str):
        return relative_range(panel.range, tz=tz, now=now)
    return in_zone(parse_local_datetime(panel.range["from"]), tz), in_zone(parse_local_datetime(panel.range["to"]), tz)


@dataclass(frozen=True)
class PanelData:
    """What one panel shows: a KPI's summary row and series, a metric's series, or every KPI's summary row."""

    panel: Panel
    summary: KPIStatus | list[KPIStatus] | None = None
    points: list[Point] | None = None
    # A series panel (or a ranged KPI panel) whose range holds more than SERIES_MAX_POINTS buckets: no points.
    error: TooManyPoints | None = None


@replica_reads
def board_data(*, user: User, board: Board, tz: ZoneInfo, now: datetime | None = None) -> list[PanelData]:
    """Every panel's data for *user* (its visibility), as the summary, KPI series and metric series selectors give
    it, in a number of queries bounded whatever the number of panels: the summary once, KPI recent series per
    distinct period, every ranged series in one batch. A series over ``SERIES_MAX_POINTS`` buckets gets its error
    (as ``metrics/series`` would answer) instead of points, and the other panels their data."""
    now = now or timezone.now()
    panels = list(board.panels.all())
    wants_summary = any(panel.type in (Panel.Type.KPI, Panel.Type.SUMMARY) for panel in panels)
    summary = kpi_summary(user=user, tz=tz, now=now) if wants_summary else []
    by_kpi = {row.kpi.pk: row for row in summary}
    recent_kpis = {panel.kpi.pk: panel.kpi for panel in panels if panel.type == Panel.Type.KPI and panel.range is None}
    recent = kpi_recent_series(user=user, kpis=list(recent_kpis.values()), tz=tz, now=now) if recent_kpis else {}
    requests: dict[int, SeriesRequest] = {}
    for panel in panels:
        if panel.type == Panel.Type.SERIES or (panel.type == Panel.Type.KPI and panel.range is not None):
            start, end = panel_range_resolve(panel=panel, tz=tz, now=now)
            if panel.type == Panel.Type.SERIES:
                name, bucket, agg = panel.metric_name, panel.metric_bucket, panel.metric_agg
            else:
                name, bucket, agg = panel.kpi.metric_name, panel.kpi.period, panel.kpi.aggregation
            requests[panel.pk] = SeriesRequest(name=name, bucket=bucket, agg=agg, start=start, end=end)
    distinct = list(set(requests.values()))
    errors = series_sizes_check(user=user, requests=distinct, tz=tz) if distinct else {}
    fitting = [request for request in distinct if request not in errors]
    series = metric_series_batch(user=user, requests=fitting, tz=tz) if fitting else {}
    result = []
    for panel in panels:
        request = requests.get(panel.pk)
        error = errors.get(request) if request is not None else None
        points = None if error is not None else series.get(request) if request is not None else None
        if panel.type == Panel.Type.SUMMARY:
            result.append(PanelData(panel=panel, summary=summary))
        elif panel.type == Panel.Type.KPI:
            if request is None:
                points = recent[panel.kpi.pk]
            result.append(PanelData(panel=panel, summary=by_kpi[panel.kpi.pk], points=points, error=error))
        else:
            result.append(PanelData(panel=panel, points=points, error=error))
    return result
