"""Reads of boards: who sees which board, a panel's range, and every panel's data in a bounded number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from core.db_routers import replica_reads
from dashboard.boards.models import Board, Panel
from dashboard.exceptions import TooManyPoints
from dashboard.kpis.models import KPI
from dashboard.kpis.selectors import KPIStatus, kpi_recent_series, kpi_summary
from dashboard.metrics.selectors import Point, SeriesRequest, metric_series_batch, series_sizes_check
from dashboard.time_input import in_zone, local_datetime
from dashboard.timeseries import (
    relative_range,
)


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


def panel_kpi(panel: Panel) -> KPI:
    """The KPI of a kpi panel: the board service gives each one, and deleting the KPI deletes its panels."""
    assert panel.kpi is not None, f"kpi panel {panel.pk} has no KPI"
    return panel.kpi


def panel_range_resolve(*, panel: Panel, tz: ZoneInfo, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The panel's ``[start, end)`` for a request in *tz* at *now* (``(None, None)`` without a range)."""
    if panel.range is None:
        return None, None
    if isinstance(panel.range, str):
        return relative_range(panel.range, tz=tz, now=now)
    # A fixed range was checked when saved (board service), so both bounds parse.
    return in_zone(local_datetime(panel.range["from"]), tz), in_zone(local_datetime(panel.range["to"]), tz)


@dataclass(frozen=True)
class PanelData:
    """What one panel shows: a KPI's summary row and series, a metric's series, or every KPI's summary row."""

    panel: Panel
    summary: KPIStatus | list[KPIStatus] | None = None
    points: list[Point] | None = None
    # A series panel (or a ranged KPI panel) whose range holds more than SERIES_MAX_POINTS buckets: no points.
    error: TooManyPoints | None = None

    @property
    def summary_rows(self) -> list[KPIStatus]:
        """Every KPI's summary row, of a summary panel."""
        assert isinstance(self.summary, list), f"panel {self.panel.pk} is not a summary panel"
        return self.summary

    @property
    def summary_row(self) -> KPIStatus:
        """The KPI's summary row, of a kpi panel."""
        assert isinstance(self.summary, KPIStatus), f"panel {self.panel.pk} is not a kpi panel"
        return self.summary


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
    recent_kpis = {
        kpi.pk: kpi
        for kpi in (panel_kpi(panel) for panel in panels if panel.type == Panel.Type.KPI and panel.range is None)
    }
    recent = kpi_recent_series(user=user, kpis=list(recent_kpis.values()), tz=tz, now=now) if recent_kpis else {}
    requests: dict[int, SeriesRequest] = {}
    for panel in panels:
        if panel.type == Panel.Type.SERIES or (panel.type == Panel.Type.KPI and panel.range is not None):
            start, end = panel_range_resolve(panel=panel, tz=tz, now=now)
            if panel.type == Panel.Type.SERIES:
                name, bucket, agg = panel.metric_name, panel.metric_bucket, panel.metric_agg
            else:
                kpi = panel_kpi(panel)
                name, bucket, agg = kpi.metric_name, kpi.period, kpi.aggregation
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
            kpi = panel_kpi(panel)
            if request is None:
                points = recent[kpi.pk]
            result.append(PanelData(panel=panel, summary=by_kpi[kpi.pk], points=points, error=error))
        else:
            result.append(PanelData(panel=panel, points=points, error=error))
    return result


# What a board panel's data needs beyond view_board: the permission of the endpoint that gives it.
BOARD_PANEL_PERMISSIONS = {
    "kpi": "dashboard.view_kpi",
    "summary": "dashboard.view_kpi",
    "series": "dashboard.view_metric",
}


def board_missing_permissions(user: User, board: Board) -> list[str]:
    """The permissions *user* lacks to see the data of every panel of *board* (sorted; empty when none)."""
    needed = {BOARD_PANEL_PERMISSIONS[panel.type] for panel in board.panels.all()}
    return sorted(perm for perm in needed if not user.has_perm(perm))
