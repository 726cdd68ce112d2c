"""Staff UI for metrics, KPIs and uploads; staff see exactly the metrics the API would show them."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from dashboard.models import KPI, Metric, Upload
from dashboard.selectors import metrics_visible_to, uploads_visible_to
from dashboard.staff.views import KPIDetailView, KPIOverviewView, MetricExplorerView, MetricImportView


class VisibleOwnerFilter(admin.SimpleListFilter):
    """Owners among the metrics the staff member may see (never lists other users to those who see only their own)."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        owners = (
            metrics_visible_to(request.user).order_by("owner__email").values_list("owner_id", "owner__email").distinct()
        )
        return [(str(pk), email) for pk, email in owners]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(owner_id=self.value())
        return queryset


class VisibleNameFilter(admin.SimpleListFilter):
    title = "name"
    parameter_name = "name"

    def lookups(self, request, model_admin):
        names = metrics_visible_to(request.user).order_by("name").values_list("name", flat=True).distinct()[:200]
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(name=self.value())
        return queryset


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ("name", "value", "timestamp", "owner", "upload")
    list_filter = (VisibleNameFilter, VisibleOwnerFilter)
    list_select_related = ("owner", "upload")
    search_fields = ("name",)
    date_hierarchy = "timestamp"
    ordering = ("-timestamp", "-id")
    readonly_fields = ("owner", "upload")
    show_full_result_count = False

    def get_queryset(self, request):
        return metrics_visible_to(request.user).select_related("owner", "upload")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        site = self.admin_site
        return [
            path(
                "explorer/",
                site.admin_view(MetricExplorerView.as_view(admin_site=site)),
                name="dashboard_metric_explorer",
            ),
            path("import/", site.admin_view(MetricImportView.as_view(admin_site=site)), name="dashboard_metric_import"),
            *super().get_urls(),
        ]

    def _owns(self, request, obj) -> bool:
        return obj is None or request.user.is_superuser or obj.owner_id == request.user.pk

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._owns(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._owns(request, obj)


@admin.register(KPI)
class KPIAdmin(admin.ModelAdmin):
    list_display = ("name", "metric_name", "aggregation", "period", "target", "direction", "unit")
    list_filter = ("period", "aggregation", "direction")
    search_fields = ("name", "metric_name", "description")
    readonly_fields = ("slug", "created_by", "created_at")
    ordering = ("name", "id")

    def get_urls(self):
        site = self.admin_site
        return [
            path("overview/", site.admin_view(KPIOverviewView.as_view(admin_site=site)), name="dashboard_kpi_overview"),
            path(
                "<int:pk>/chart/", site.admin_view(KPIDetailView.as_view(admin_site=site)), name="dashboard_kpi_chart"
            ),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        from dashboard.services import kpi_create, kpi_update

        fields = {f: form.cleaned_data[f] for f in form.changed_data} if change else form.cleaned_data
        if change:
            kpi_update(kpi=obj, **fields)
        else:
            created = kpi_create(created_by=request.user, **fields)
            obj.pk, obj.slug = created.pk, created.slug


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("filename", "status", "rows_imported", "error_count", "created_by", "created_at", "finished_at")
    list_filter = ("status",)
    list_select_related = ("created_by",)
    search_fields = ("filename", "sha256")
    ordering = ("-created_at", "-id")

    def get_queryset(self, request):
        return uploads_visible_to(request.user).select_related("created_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
