"""What the staff pages show, assembled from the dashboard selectors and drawn by :mod:`dashboard.staff.charts`.

No numbers are computed here: values, statuses and changes come from the selectors the API uses; this module only
pairs them with labels and charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from django.utils import timezone

from accounts.models import User
from dashboard.kpis.models import KPI
from dashboard.kpis.selectors import KPIStatus, kpi_default_range, kpi_overview, kpi_series, kpi_summary
from dashboard.metrics.selectors import MetricFilters, Point, metric_names, metric_series
from dashboard.staff.charts import LARGE, SMALL, Chart, ChartPoint, ChartSize, chart_points, series_chart
from dashboard.staff.formatting import format_number
from dashboard.timeseries import bucket_start, period_label, period_shift
from dashboard.uploads.models import Upload
from dashboard.uploads.selectors import uploads_visible_to

MAX_CHART_POINTS = 1500
STATUS_LABELS = dict(KPI.Status.choices)
PREVIOUS_PERIOD = {
    "day": "yesterday",
    "week": "last week",
    "month": "last month",
    "quarter": "last quarter",
    "year": "last year",
}
PERIOD_NOUNS = {
    "hour": "hours",
    "day": "days",
    "week": "weeks",
    "month": "months",
    "quarter": "quarters",
    "year": "years",
}


def _change_tone(kpi: KPI, change_pct: float | None) -> str:
    if change_pct is None or change_pct == 0:
        return "flat"
    better = change_pct > 0 if kpi.direction == KPI.Direction.UP else change_pct < 0
    return "good" if better else "bad"


def _sign(value: float | None) -> str:
    if not value:
        return ""
    return "up" if value > 0 else "down"


def _kpi_chart(
    *, kpi: KPI, points, domain: tuple[datetime, datetime], now: datetime, size: ChartSize, chart_id: str
) -> Chart:
    tones = [kpi.reading(current=point.value, previous=None).status for point in points]
    return series_chart(
        chart_id=chart_id,
        title=f"{kpi.name} per {kpi.period}",
        points=chart_points(points, kpi.period, tones, now=now, start=domain[0]),
        domain=domain,
        unit=kpi.unit,
        target=kpi.target,
        band=kpi.warning_band(),
        size=size,
        what=PERIOD_NOUNS[kpi.period],
    )


@dataclass(frozen=True)
class KPICard:
    kpi: KPI
    status: str
    status_label: str
    current: float | None
    current_label: str
    basis: float | None  # what the change compares with: the previous period to date, or all of it
    previous_label: str
    previous_name: str
    progress_label: str
    progress_text: str
    change: float | None
    change_tone: str
    change_sign: str
    change_basis: str
    change_title: str
    chart: Chart | None


def progress_text(kpi: KPI, current: float | None, progress_pct: float | None) -> tuple[str, str]:
    """``(label, text)`` of how far the current value has come: progress towards a higher-is-better target, or how
    far over (or under) a lower-is-better one, its budget."""
    if kpi.direction == KPI.Direction.UP:
        return "Progress", "—" if progress_pct is None else f"{progress_pct:,.0f}%"
    if current is None or not kpi.target:
        return "Budget", "—"
    gap = (current - kpi.target) / abs(kpi.target) * 100
    if round(gap) == 0:
        return "Budget", "On budget"
    return "Budget", f"{abs(gap):,.0f}% {'over' if gap > 0 else 'under'} budget"


def _moment_label(moment: datetime, tz: tzinfo | None) -> str:
    local = moment.astimezone(tz)
    label = period_label(local, "day", short=True)
    return label if (local.hour, local.minute) == (0, 0) else f"{label}, {local:%H:%M}"


def _card(row: KPIStatus, chart: Chart | None) -> KPICard:
    """While a period runs its card compares it with the previous period up to the same point (to date); once the
    cut reaches the previous period's end, with the whole previous period. The card says which."""
    kpi = row.kpi
    previous_name = PREVIOUS_PERIOD[kpi.period]
    tz = row.current.period_start.tzinfo
    if row.previous_is_whole:
        change, basis_value = row.change_pct, row.previous.value
        basis = f"vs {previous_name}"
        title = f"Compared with all of {period_label(row.previous.period_start, kpi.period)}"
    else:
        change, basis_value = row.change_to_date_pct, row.previous_to_date.value
        basis = f"vs {previous_name} to date"
        title = (
            f"Compared with {period_label(row.previous.period_start, kpi.period)} up to "
            f"{_moment_label(row.previous_to_date.end, tz)}, as far as this {kpi.period} has come "
            f"(all of it: {format_number(row.previous.value, kpi.unit)})"
        )
    progress_label, progress = progress_text(kpi, row.current.value, row.progress_pct)
    return KPICard(
        kpi=kpi,
        status=row.status,
        status_label=STATUS_LABELS[row.status],
        current=row.current.value,
        current_label=period_label(row.current.period_start, kpi.period),
        basis=basis_value,
        previous_label=period_label(row.previous.period_start, kpi.period),
        previous_name=previous_name,
        progress_label=progress_label,
        progress_text=progress,
        change=change,
        change_tone=_change_tone(kpi, change),
        change_sign=_sign(change),
        change_basis=basis,
        change_title=title,
        chart=chart,
    )


def kpi_cards(*, user: User, tz: ZoneInfo, now: datetime | None = None) -> list[KPICard]:
    """One card per KPI: the summary the API gives *user*, and a chart of the last 12 periods with the target."""
    now = now or timezone.now()
    rows, recent = kpi_overview(user=user, tz=tz, now=now)
    cards = []
    for row in rows:
        start, end = kpi_default_range(kpi=row.kpi, tz=tz, now=now)
        chart = _kpi_chart(
            kpi=row.kpi,
            points=recent[row.kpi.pk],
            domain=(start, end),
            now=now,
            size=SMALL,
            chart_id=f"kpi-{row.kpi.pk}-chart",
        )
        cards.append(_card(row, chart))
    return cards


def status_counts(cards: list[KPICard]) -> list[tuple[str, str, int]]:
    """``(status, label, how many cards)`` for every status, in the order of :data:`STATUS_LABELS`."""
    return [(status, label, sum(card.status == status for card in cards)) for status, label in STATUS_LABELS.items()]


@dataclass(frozen=True)
class PeriodRow:
    label: str
    value: float
    status: str
    status_label: str
    change: float | None
    change_tone: str


@dataclass(frozen=True)
class KPIDetail:
    card: KPICard
    chart: Chart | None
    rows: list[PeriodRow]
    start: datetime
    end: datetime
    too_many: int
    presets: list[tuple[str, str, str]]
    range_text: str


def _date_param(moment: datetime) -> str:
    return moment.date().isoformat()


def kpi_detail(
    *, user: User, kpi: KPI, tz: ZoneInfo, start: datetime | None, end: datetime | None, now: datetime | None = None
) -> KPIDetail:
    """The KPI's card (current period) and its series over ``[start, end)`` (default: the last 12 periods)."""
    now = now or timezone.now()
    default_start, default_end = kpi_default_range(kpi=kpi, tz=tz, now=now)
    if start is None and end is None:
        start, end = default_start, default_end
    points = kpi_series(user=user, kpi=kpi, tz=tz, start=start, end=end)
    start = start or (points[0].t if points else default_start)
    end = end or (period_shift(points[-1].t, kpi.period, 1) if points else default_end)
    row = next(row for row in kpi_summary(user=user, tz=tz, now=now) if row.kpi.pk == kpi.pk)
    too_many = len(points) if len(points) > MAX_CHART_POINTS else 0
    chart = None
    if not too_many:
        chart = _kpi_chart(kpi=kpi, points=points, domain=(start, end), now=now, size=LARGE, chart_id="kpi-chart")
    rows = []
    previous: Point | None = None
    for point in points:
        adjacent = previous if previous is not None and period_shift(previous.t, kpi.period, 1) == point.t else None
        reading = kpi.reading(current=point.value, previous=adjacent.value if adjacent is not None else None)
        change, status = reading.change_pct, reading.status
        running = point.t == row.current.period_start and not row.previous_is_whole
        if running:
            change = row.change_to_date_pct
        rows.append(
            PeriodRow(
                label=period_label(point.t, kpi.period) + (" (so far; change to date)" if running else ""),
                value=point.value,
                status=status,
                status_label=STATUS_LABELS[status],
                change=change,
                change_tone=_change_tone(kpi, change),
            )
        )
        previous = point
    presets = [
        (
            f"Last {count} {PERIOD_NOUNS[kpi.period]}",
            _date_param(period_shift(default_end, kpi.period, -count)),
            _date_param(default_end),
        )
        for count in (6, 12, 24, 36)
    ]
    first_period = bucket_start(start, kpi.period, tz)
    last_period = bucket_start(end - timedelta(microseconds=1), kpi.period, tz)
    range_text = period_label(first_period, kpi.period)
    if last_period > first_period:
        range_text += f" to {period_label(last_period, kpi.period)}"
    return KPIDetail(
        range_text=range_text,
        card=_card(row, None),
        chart=chart,
        rows=rows,
        start=start,
        end=end,
        too_many=too_many,
        presets=presets,
    )


def visible_metric_names(*, user: User) -> list[str]:
    return [row["name"] for row in metric_names(user=user, filters=MetricFilters())]


@dataclass(frozen=True)
class SeriesRow:
    label: str
    value: float
    count: int


@dataclass(frozen=True)
class MetricExplorer:
    chart: Chart | None
    rows: list[SeriesRow]
    too_many: int


def metric_explorer(
    *,
    user: User,
    name: str,
    bucket: str,
    agg: str,
    tz: ZoneInfo,
    start: datetime | None,
    end: datetime | None,
) -> MetricExplorer:
    """The API's ``metrics/series`` for *user*, as a chart and table rows."""
    points = metric_series(user=user, name=name, bucket=bucket, agg=agg, tz=tz, start=start, end=end)
    rows = [
        SeriesRow(
            label=period_label(point.t, bucket),
            value=point.value,
            count=point.count,
        )
        for point in points
    ]
    if len(points) > MAX_CHART_POINTS:
        return MetricExplorer(chart=None, rows=rows, too_many=len(points))
    marks: list[ChartPoint] = chart_points(points, bucket, now=timezone.now(), start=start)
    domain = (start or marks[0].start, end or marks[-1].end) if marks else None
    chart = series_chart(
        chart_id="metric-chart",
        title=f"{name}: {agg} per {bucket}",
        points=marks,
        domain=domain,
        size=LARGE,
        what=PERIOD_NOUNS[bucket],
    )
    return MetricExplorer(chart=chart, rows=rows, too_many=0)


def import_result(*, user: User, upload_id: str | None) -> Upload | None:
    """The caller's own upload *upload_id*, to show the outcome of an import they just made; else None."""
    if not upload_id or not str(upload_id).isdigit():
        return None
    return uploads_visible_to(user).filter(pk=int(upload_id), created_by=user).first()
