"""Staff pages of boards: one board's panels laid out on its 12-column grid, drawn like the KPI overview.

The numbers are the board's data for the staff member (:func:`dashboard.boards.selectors.board_data`, what the API's
``boards/{id}/data`` gives); this module pairs them with the overview's cards and charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from accounts.request_user import request_user
from dashboard.boards.models import Board, Panel
from dashboard.boards.selectors import (
    board_data,
    board_missing_permissions,
    boards_visible_to,
    panel_kpi,
    panel_range_resolve,
)
from dashboard.kpis.selectors import kpi_default_range
from dashboard.staff.charts import LARGE, SMALL, Chart, chart_points, series_chart
from dashboard.staff.formatting import format_number
from dashboard.staff.forms import TimeZoneForm
from dashboard.staff.pages import MAX_CHART_POINTS, PERIOD_NOUNS, KPICard, _card, _kpi_chart
from dashboard.staff.views import StaffPage
from dashboard.timeseries import period_label

RANGE_LABELS = {
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "last_90_days": "Last 90 days",
    "last_12_months": "Last 12 months",
    "this_month": "This month",
    "this_quarter": "This quarter",
    "this_year": "This year",
    "year_to_date": "Year to date",
}
# Panels this wide or wider get the large chart.
WIDE_PANEL = 8


@dataclass(frozen=True)
class PanelView:
    panel: Panel
    title: str
    range_text: str
    card: KPICard | None = None
    cards: list[KPICard] = field(default_factory=list)
    chart: Chart | None = None
    latest_text: str = ""
    latest_label: str = ""
    too_many: int = 0
    error: str = ""


def _range_text(panel: Panel) -> str:
    if panel.range is None:
        return ""
    if isinstance(panel.range, str):
        return RANGE_LABELS[panel.range]
    return f"{panel.range['from']} to {panel.range['to']} (exclusive)"


def _series_view(panel: Panel, points, *, start, end, now: datetime) -> PanelView:
    title = panel.title or f"{panel.metric_name}: {panel.metric_agg} per {panel.metric_bucket}"
    latest = points[-1] if points else None
    view = partial(
        PanelView,
        panel=panel,
        title=title,
        range_text=_range_text(panel),
        latest_text=format_number(latest.value) if latest else "No data",
        latest_label=period_label(latest.t, panel.metric_bucket) if latest else "",
    )
    if len(points) > MAX_CHART_POINTS:
        return view(too_many=len(points))
    marks = chart_points(points, panel.metric_bucket, now=now)
    domain = (start or marks[0].start, end or marks[-1].end) if marks else None
    chart = series_chart(
        chart_id=f"panel-{panel.pk}-chart",
        title=f"{title}: {panel.metric_agg} of {panel.metric_name} per {panel.metric_bucket}",
        points=marks,
        domain=domain,
        size=LARGE if panel.w >= WIDE_PANEL else SMALL,
        what=PERIOD_NOUNS[panel.metric_bucket],
    )
    return view(chart=chart)


def board_panels(*, user: User, board: Board, tz: ZoneInfo, now: datetime | None = None) -> list[PanelView]:
    """Every panel of *board* as *user* sees it in *tz*: a KPI card with its chart, every KPI's card, or a chart."""
    now = now or timezone.now()
    views = []
    for data in board_data(user=user, board=board, tz=tz, now=now):
        panel = data.panel
        if panel.type == Panel.Type.SUMMARY:
            cards = [_card(row, None) for row in data.summary_rows]
            views.append(PanelView(panel=panel, title=panel.title or "All KPIs", range_text="", cards=cards))
        elif data.error is not None:
            title = panel.title or (panel.kpi.name if panel.kpi else panel.metric_name)
            card = _card(data.summary_row, None) if panel.type == Panel.Type.KPI else None
            views.append(
                PanelView(panel=panel, title=title, range_text=_range_text(panel), card=card, error=data.error.message)
            )
        elif panel.type == Panel.Type.KPI:
            kpi = panel_kpi(panel)
            start, end = panel_range_resolve(panel=panel, tz=tz, now=now)
            # Both bounds are set exactly when the panel has a range.
            if start is not None and end is not None:
                domain = (start, end)
            else:
                domain = kpi_default_range(kpi=kpi, tz=tz, now=now)
            chart = _kpi_chart(
                kpi=kpi, points=data.points, domain=domain, now=now, size=SMALL, chart_id=f"panel-{panel.pk}-chart"
            )
            views.append(
                PanelView(
                    panel=panel,
                    title=panel.title or kpi.name,
                    range_text=_range_text(panel) or f"Last 12 {PERIOD_NOUNS[kpi.period]}",
                    card=_card(data.summary_row, chart),
                )
            )
        else:
            start, end = panel_range_resolve(panel=panel, tz=tz, now=now)
            views.append(_series_view(panel, data.points, start=start, end=end, now=now))
    return views


def board_layout_css(board: Board) -> str:
    """Each panel's place on the grid, as a stylesheet (the CSP allows no inline styles)."""
    return "".join(
        f"#panel-{panel.pk}{{grid-column:{panel.x + 1} / span {panel.w};grid-row:{panel.y + 1} / span {panel.h}}}\n"
        for panel in board.panels.all()
    )


class BoardPageView(StaffPage):
    """One board the staff member sees (another is a 404), its panels on the grid."""

    permission_required = "dashboard.view_board"
    model = Board
    template_name = "admin/dashboard/board/page.html"

    def get_context_data(self, **kwargs) -> dict:
        user = request_user(self.request)
        board = get_object_or_404(boards_visible_to(user), pk=self.kwargs["pk"])
        missing = board_missing_permissions(user, board)
        if missing:
            raise PermissionDenied(f"Missing: {', '.join(missing)}")
        form = TimeZoneForm.with_defaults(self.request.GET, {"tz": settings.TIME_ZONE})
        panels = board_panels(user=user, board=board, tz=form.cleaned_data["tz"]) if form.is_valid() else []
        return super().get_context_data(
            board=board, form=form, panels=panels, title=board.name, tz=form.data.get("tz"), **kwargs
        )


class BoardLayoutView(StaffPage):
    permission_required = "dashboard.view_board"
    model = Board

    def get(self, request, *args, **kwargs):
        board = get_object_or_404(boards_visible_to(request.user), pk=self.kwargs["pk"])
        return HttpResponse(board_layout_css(board), content_type="text/css; charset=utf-8")
