"""Reads of dashboard data. Everything is computed over the metrics the caller may see, in the database."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Avg, Count, F, Max, Min, Prefetch, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from accounts.models import User
from dashboard.models import KPI, AlertDelivery, AlertEvent, AlertRule, Metric, Upload
from dashboard.timeseries import TRUNC_BY_BUCKET, bucket_start, period_shift

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
    metrics = Metric.objects.all()
    if user.has_perm(VIEW_ALL_METRICS):
        return metrics
    return metrics.filter(owner_id=user.pk)


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


def metric_list(*, user: User, filters: MetricFilters) -> QuerySet[Metric]:
    metrics = _filter_metrics(metrics_visible_to(user), filters)
    return metrics.order_by(filters.ordering or "-timestamp", "-id")


def metric_names(*, user: User, filters: MetricFilters) -> list[dict]:
    """``[{name, count, first, last}]`` over the visible metrics, by name."""
    rows = (
        _filter_metrics(metrics_visible_to(user), filters)
        .values("name")
        .annotate(count=Count("id"), first=Min("timestamp"), last=Max("timestamp"))
        .order_by("name")
    )
    return list(rows)


def _bucketed(metrics: QuerySet[Metric], bucket: str, tz: ZoneInfo) -> QuerySet[Metric]:
    return metrics.annotate(t=TRUNC_BY_BUCKET[bucket]("timestamp", tzinfo=tz))


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


def metric_series(
    *, user: User, name: str, bucket: str, agg: str, tz: ZoneInfo, start: datetime | None, end: datetime | None
) -> list[Point]:
    metrics = _filter_metrics(metrics_visible_to(user), MetricFilters(name=name, start=start, end=end))
    return bucket_points(metrics, bucket=bucket, agg=agg, tz=tz)


# --- KPIs ---------------------------------------------------------------------------------------------------


def kpi_list() -> QuerySet[KPI]:
    return KPI.objects.select_related("created_by").order_by("name", "id")


def kpi_default_range(*, kpi: KPI, tz: ZoneInfo, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last 12 periods of *kpi*, the current one included: ``[start, end)``."""
    current = bucket_start(now or timezone.now(), kpi.period, tz)
    return period_shift(current, kpi.period, 1 - KPI_SERIES_DEFAULT_PERIODS), period_shift(current, kpi.period, 1)


def kpi_series(*, user: User, kpi: KPI, tz: ZoneInfo, start: datetime | None, end: datetime | None) -> list[Point]:
    if start is None and end is None:
        start, end = kpi_default_range(kpi=kpi, tz=tz)
    metrics = _filter_metrics(metrics_visible_to(user), MetricFilters(name=kpi.metric_name, start=start, end=end))
    return bucket_points(metrics, bucket=kpi.period, agg=kpi.aggregation, tz=tz)


@dataclass(frozen=True)
class KPIStatus:
    kpi: KPI
    current_start: datetime
    current: float | None
    previous_start: datetime
    previous: float | None
    change_pct: float | None
    progress_pct: float | None
    status: str


def kpi_status(*, kpi: KPI, current: float | None, previous: float | None) -> tuple[float | None, float | None, str]:
    """``(change_pct, progress_pct, status)`` by the contract's arithmetic."""
    change = None
    if current is not None and previous is not None and previous != 0:
        change = (current - previous) / abs(previous) * 100
    progress = None
    if current is not None and kpi.target is not None and kpi.target != 0:
        progress = current / kpi.target * 100
    if current is None:
        return change, progress, "no_data"
    if kpi.target is None:
        return change, progress, "no_target"
    margin = abs(kpi.target) * kpi.warning_threshold_pct / 100
    if kpi.direction == KPI.Direction.UP:
        if current >= kpi.target:
            status = "on_track"
        elif current >= kpi.target - margin:
            status = "at_risk"
        else:
            status = "off_track"
    elif current <= kpi.target:
        status = "on_track"
    elif current <= kpi.target + margin:
        status = "at_risk"
    else:
        status = "off_track"
    return change, progress, status


def _period_values(
    *, user: User, kpis: list[KPI], period: str, start: datetime, end: datetime, tz: ZoneInfo
) -> dict[tuple[str, str, datetime], float]:
    """``{(metric_name, aggregation, bucket_start): value}`` for the KPIs of one period: at most two queries."""
    names = {kpi.metric_name for kpi in kpis}
    metrics = _filter_metrics(metrics_visible_to(user), MetricFilters(start=start, end=end)).filter(name__in=names)
    values: dict[tuple[str, str, datetime], float] = {}
    rows = (
        _bucketed(metrics.order_by(), period, tz)
        .values("name", "t")
        .annotate(sum=Sum("value"), avg=Avg("value"), min=Min("value"), max=Max("value"), count=Count("id"))
        .order_by()
    )
    for row in rows:
        for agg in AGGREGATE_FUNCTIONS:
            values[(row["name"], agg, row["t"])] = float(row[agg])
    if any(kpi.aggregation == "last" for kpi in kpis):
        last_rows = (
            _bucketed(metrics.order_by(), period, tz)
            .annotate(
                position=Window(
                    RowNumber(), partition_by=[F("name"), F("t")], order_by=[F("timestamp").desc(), F("id").desc()]
                )
            )
            .filter(position=1)
            .values_list("name", "t", "value")
        )
        for name, t, value in last_rows:
            values[(name, "last", t)] = float(value)
    return values


def kpi_summary(*, user: User, tz: ZoneInfo, now: datetime | None = None) -> list[KPIStatus]:
    """Every KPI against its target for the current and previous period in *tz*; a bounded number of queries
    (one for the KPIs, at most two per distinct period)."""
    now = now or timezone.now()
    kpis = list(kpi_list())
    by_period: dict[str, list[KPI]] = defaultdict(list)
    for kpi in kpis:
        by_period[kpi.period].append(kpi)
    bounds: dict[str, tuple[datetime, datetime]] = {}
    values: dict[tuple[str, str, datetime], float] = {}
    for period, members in by_period.items():
        current_start = bucket_start(now, period, tz)
        previous_start = period_shift(current_start, period, -1)
        bounds[period] = (current_start, previous_start)
        end = period_shift(current_start, period, 1)
        values.update(
            {
                (period, *key): value
                for key, value in _period_values(
                    user=user, kpis=members, period=period, start=previous_start, end=end, tz=tz
                ).items()
            }
        )
    result = []
    for kpi in kpis:
        current_start, previous_start = bounds[kpi.period]
        current = values.get((kpi.period, kpi.metric_name, kpi.aggregation, current_start))
        previous = values.get((kpi.period, kpi.metric_name, kpi.aggregation, previous_start))
        change, progress, status = kpi_status(kpi=kpi, current=current, previous=previous)
        result.append(
            KPIStatus(
                kpi=kpi,
                current_start=current_start,
                current=current,
                previous_start=previous_start,
                previous=previous,
                change_pct=change,
                progress_pct=progress,
                status=status,
            )
        )
    return result


def kpi_current_values(
    *, user: User, kpis: list[KPI], tz: ZoneInfo, now: datetime | None = None
) -> dict[int, tuple[datetime, float | None]]:
    """``{kpi id: (current period start, value or None)}`` over what *user* may see, as the summary's ``current``
    gives them, in at most two queries per distinct period whatever the number of KPIs."""
    now = now or timezone.now()
    by_period: dict[str, list[KPI]] = defaultdict(list)
    for kpi in kpis:
        by_period[kpi.period].append(kpi)
    result: dict[int, tuple[datetime, float | None]] = {}
    for period, members in by_period.items():
        start = bucket_start(now, period, tz)
        end = period_shift(start, period, 1)
        values = _period_values(user=user, kpis=members, period=period, start=start, end=end, tz=tz)
        for kpi in members:
            result[kpi.pk] = (start, values.get((kpi.metric_name, kpi.aggregation, start)))
    return result


def kpi_recent_series(
    *, user: User, kpis: list[KPI], tz: ZoneInfo, now: datetime | None = None
) -> dict[int, list[Point]]:
    """``{kpi id: points}`` over each KPI's default range (its last 12 periods), as :func:`kpi_series` gives them one
    by one, in at most two queries per distinct period whatever the number of KPIs."""
    now = now or timezone.now()
    by_period: dict[str, list[KPI]] = defaultdict(list)
    for kpi in kpis:
        by_period[kpi.period].append(kpi)
    series: dict[int, list[Point]] = {}
    for period, members in by_period.items():
        start, end = kpi_default_range(kpi=members[0], tz=tz, now=now)
        values = _period_values(user=user, kpis=members, period=period, start=start, end=end, tz=tz)
        for kpi in members:
            starts = sorted(t for name, agg, t in values if name == kpi.metric_name and agg == kpi.aggregation)
            series[kpi.pk] = [
                Point(
                    t=t.astimezone(tz),
                    value=values[(kpi.metric_name, kpi.aggregation, t)],
                    count=int(values[(kpi.metric_name, "count", t)]),
                )
                for t in starts
            ]
    return series


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
