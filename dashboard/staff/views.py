"""Admin views of the staff pages. Each checks its model permission (403 otherwise) and only wires forms to pages."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import Model
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from accounts.request_user import request_user
from core.errors import DomainError
from dashboard.exceptions import TooManyPoints
from dashboard.kpis.models import KPI
from dashboard.kpis.selectors import kpi_list
from dashboard.metrics.models import Metric
from dashboard.staff import pages
from dashboard.staff.forms import KPIRangeForm, MetricExplorerForm, MetricImportForm, TimeZoneForm
from dashboard.uploads.services import ImportFailure, metrics_import

EXPLORER_DEFAULT_DAYS = 90


class StaffPage(PermissionRequiredMixin, TemplateView):
    """An admin page (wrapped in ``admin_site.admin_view``) with the admin's context and breadcrumbs for *model*."""

    admin_site: AdminSite | None = None
    model: type[Model] | None = None
    title = ""
    raise_exception = True  # a logged-in staff member without the permission gets a 403, not the login page

    def get_context_data(self, **kwargs) -> dict:
        assert self.admin_site is not None, "staff_urls passes as_view(admin_site=...)"
        assert self.model is not None, "every page names its model"
        return {
            **self.admin_site.each_context(self.request),
            "title": self.title,
            "opts": self.model._meta,
            "default_tz": settings.TIME_ZONE,
            **kwargs,
        }


class KPIOverviewView(StaffPage):
    permission_required = "dashboard.view_kpi"
    model = KPI
    title = "KPI overview"
    template_name = "admin/dashboard/staff/kpi_overview.html"

    def get_context_data(self, **kwargs) -> dict:
        form = TimeZoneForm.with_defaults(self.request.GET, {"tz": settings.TIME_ZONE})
        cards = pages.kpi_cards(user=request_user(self.request), tz=form.cleaned_data["tz"]) if form.is_valid() else []
        return super().get_context_data(
            form=form, cards=cards, status_counts=pages.status_counts(cards), tz=form.data.get("tz"), **kwargs
        )


class KPIDetailView(StaffPage):
    permission_required = "dashboard.view_kpi"
    model = KPI
    template_name = "admin/dashboard/staff/kpi_chart.html"

    def get_context_data(self, **kwargs) -> dict:
        kpi = get_object_or_404(kpi_list(), pk=self.kwargs["pk"])
        form = KPIRangeForm.with_defaults(self.request.GET, {"tz": settings.TIME_ZONE})
        detail = None
        if form.is_valid():
            query = form.cleaned_data
            try:
                detail = pages.kpi_detail(
                    user=request_user(self.request), kpi=kpi, tz=query["tz"], start=query["start"], end=query["end"]
                )
            except TooManyPoints as exc:
                form.add_error(None, exc.message)
        return super().get_context_data(
            kpi=kpi, form=form, detail=detail, title=kpi.name, tz=form.data.get("tz"), **kwargs
        )


class MetricExplorerView(StaffPage):
    permission_required = "dashboard.view_metric"
    model = Metric
    title = "Metric explorer"
    template_name = "admin/dashboard/staff/metric_explorer.html"

    def get_context_data(self, **kwargs) -> dict:
        names = pages.visible_metric_names(user=request_user(self.request))
        defaults = {
            "name": names[0] if names else "",
            "bucket": "day",
            "agg": "avg",  # meaningful for gauges (latency, rates) and flows alike; ?agg= chooses another
            "tz": settings.TIME_ZONE,
            "from": (timezone.localdate() - timedelta(days=EXPLORER_DEFAULT_DAYS - 1)).isoformat(),
        }
        form = MetricExplorerForm.with_defaults(self.request.GET, defaults, names=names)
        explorer = None
        if names and form.is_valid():
            query = form.cleaned_data
            try:
                explorer = pages.metric_explorer(
                    user=request_user(self.request),
                    name=query["name"],
                    bucket=query["bucket"],
                    agg=query["agg"],
                    tz=query["tz"],
                    start=query["start"],
                    end=query["end"],
                )
            except TooManyPoints as exc:
                form.add_error(None, exc.message)
        return super().get_context_data(names=names, form=form, explorer=explorer, **kwargs)


class MetricImportView(StaffPage):
    """Upload a CSV through the one import service; the outcome is shown at ``?upload=<id>`` (post/redirect/get)."""

    permission_required = "dashboard.add_upload"
    model = Metric
    title = "Import metrics"
    template_name = "admin/dashboard/staff/metric_import.html"

    def get_context_data(self, **kwargs) -> dict:
        kwargs.setdefault("form", MetricImportForm(initial={"tz": settings.TIME_ZONE}))
        upload_id = self.request.GET.get("upload")
        result = pages.import_result(user=request_user(self.request), upload_id=upload_id)
        if upload_id and result is None:
            raise Http404("No such upload of yours.")
        return super().get_context_data(result=result, **kwargs)

    def post(self, request, *args, **kwargs):
        form = MetricImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                outcome = metrics_import(
                    file=form.cleaned_data["file"],
                    owner=request_user(request),
                    tz=form.cleaned_data["tz"],
                    allow_duplicate=form.cleaned_data["allow_duplicate"],
                )
            except DomainError as error:  # unreadable, unsupported or too large: nothing was recorded
                form.add_error("file", error.message)
            else:
                if outcome.failure is ImportFailure.DUPLICATE:
                    earlier = outcome.duplicate_of
                    assert earlier is not None, "a duplicate names the earlier upload"
                    form.add_error(
                        "file",
                        f"You already imported this file (upload {earlier.pk}, {earlier.status}). "
                        "Tick “Import again” to import it anyway.",
                    )
                else:  # imported, queued or failed: the outcome page shows which
                    assert outcome.upload is not None, "only a duplicate records no upload"
                    url = reverse("admin:dashboard_metric_import")
                    return HttpResponseRedirect(f"{url}?{urlencode({'upload': outcome.upload.pk})}")
        return self.render_to_response(self.get_context_data(form=form))
