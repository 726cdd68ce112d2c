"""Reads of KPIs: the list, a KPI's series, and the summary of every KPI against its target for the current and
previous period (and the previous period to date), each period read once for all KPIs through the metrics' batch
series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from core.db_routers import replica_reads
from dashboard.kpis.models import KPI, change_pct
from dashboard.metrics.selectors import Point, SeriesRequest, metric_series_batch, series_checked
from dashboard.timeseries import (
    bucket_start,
    period_shift,
)

KPI_SERIES_DEFAULT_PERIODS = 12


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
    request = SeriesRequest(name=kpi.metric_name, bucket=kpi.period, agg=kpi.aggregation, start=start, end=end)
    return series_checked(user=user, request=request, tz=tz)


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
        reading = kpi.reading(current=current, previous=previous)
        rows.append(
            KPIStatus(
                kpi=kpi,
                current=PeriodValue(current_start, current),
                previous=PeriodValue(previous_start, previous),
                previous_to_date=PeriodToDate(previous_start, cut, previous_to_date),
                change_pct=reading.change_pct,
                change_to_date_pct=change_pct(current, previous_to_date),
                progress_pct=reading.progress_pct,
                status=reading.status,
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
