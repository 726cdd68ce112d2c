"""The staff pages' URLs, mounted inside the admin under their model's admin URL by :class:`StaffPagesMixin` (so
``admin:<name>`` reverses them and the admin's login and permission wrapper guards them)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, path

from dashboard.staff.alerts import AlertRuleEventsView
from dashboard.staff.boards import BoardLayoutView, BoardPageView
from dashboard.staff.views import KPIDetailView, KPIOverviewView, MetricExplorerView, MetricImportView, StaffPage

# model name -> (route under the model's admin URL, view, URL name)
STAFF_PAGES: dict[str, list[tuple[str, type[StaffPage], str]]] = {
    "metric": [
        ("explorer/", MetricExplorerView, "dashboard_metric_explorer"),
        ("import/", MetricImportView, "dashboard_metric_import"),
    ],
    "kpi": [
        ("overview/", KPIOverviewView, "dashboard_kpi_overview"),
        ("<int:pk>/chart/", KPIDetailView, "dashboard_kpi_chart"),
    ],
    "alertrule": [("<int:pk>/events/", AlertRuleEventsView, "dashboard_alertrule_events")],
    "board": [
        ("<int:pk>/page/", BoardPageView, "dashboard_board_page"),
        ("<int:pk>/layout.css", BoardLayoutView, "dashboard_board_layout"),
    ],
}


def staff_urls(model_admin) -> list[URLPattern]:
    """The staff pages of *model_admin*'s model, wrapped by its admin site's ``admin_view``."""
    site = model_admin.admin_site
    return [
        path(route, site.admin_view(view.as_view(admin_site=site)), name=name)
        for route, view, name in STAFF_PAGES.get(model_admin.model._meta.model_name, [])
    ]


class StaffPagesMixin(admin.ModelAdmin):
    """For a ModelAdmin: its model's staff pages before the admin's own URLs."""

    def get_urls(self) -> list[URLPattern]:
        return [*staff_urls(self), *super().get_urls()]
