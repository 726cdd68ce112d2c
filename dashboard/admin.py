"""Staff UI for metrics, KPIs, uploads, alert rules and boards; staff see exactly the metrics the API shows them."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from dashboard.alerts.evaluation import alerts_metrics_touched
from dashboard.alerts.models import AlertRule
from dashboard.alerts.rules import (
    RULE_FIELDS,
    alert_rule_clean,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
)
from dashboard.alerts.selectors import alert_rules_visible_to
from dashboard.boards.models import Board
from dashboard.boards.selectors import boards_visible_to
from dashboard.kpis.models import KPI
from dashboard.kpis.services import kpi_create, kpi_update
from dashboard.metrics.models import Metric
from dashboard.metrics.selectors import metrics_visible_to
from dashboard.staff.formatting import format_exact
from dashboard.staff.urls import StaffPagesMixin
from dashboard.uploads.models import Upload
from dashboard.uploads.selectors import uploads_visible_to


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
class MetricAdmin(StaffPagesMixin, admin.ModelAdmin):
    list_display = ("name", "display_value", "timestamp", "owner", "upload")
    list_filter = (VisibleNameFilter, VisibleOwnerFilter)
    list_select_related = ("owner", "upload")
    search_fields = ("name",)
    date_hierarchy = "timestamp"
    ordering = ("-timestamp", "-id")
    readonly_fields = ("owner", "upload")
    show_full_result_count = False

    def get_queryset(self, request):
        return metrics_visible_to(request.user).select_related("owner", "upload")

    @admin.display(description="value", ordering="value")
    def display_value(self, obj):
        return format_exact(obj.value)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        super().save_model(request, obj, form, change)
        alerts_metrics_touched(names={obj.name, form.initial.get("name") or obj.name})

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        alerts_metrics_touched(names={obj.name})

    def delete_queryset(self, request, queryset):
        names = set(queryset.values_list("name", flat=True).distinct())
        super().delete_queryset(request, queryset)
        alerts_metrics_touched(names=names)

    def _owns(self, request, obj) -> bool:
        return obj is None or request.user.is_superuser or obj.owner_id == request.user.pk

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._owns(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._owns(request, obj)


@admin.register(KPI)
class KPIAdmin(StaffPagesMixin, admin.ModelAdmin):
    list_display = ("name", "metric_name", "aggregation", "period", "display_target", "direction", "unit")
    list_filter = ("period", "aggregation", "direction")
    search_fields = ("name", "metric_name", "description")
    readonly_fields = ("slug", "created_by", "created_at")
    ordering = ("name", "id")

    @admin.display(description="target", ordering="target")
    def display_target(self, obj):
        return format_exact(obj.target)

    def save_model(self, request, obj, form, change):

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


class AlertRuleForm(forms.ModelForm):
    """The rule checked by the same service as the API (conditions, channels, webhook URL safety)."""

    class Meta:
        model = AlertRule
        fields = [
            "name",
            "kpi",
            "condition",
            "statuses",
            "threshold",
            "tz",
            "channels",
            "repeat_minutes",
            "muted_until",
        ]
        help_texts = {
            "statuses": 'For the "status" condition: a list such as ["at_risk", "off_track"] (or "no_data").',
            "channels": 'A list such as [{"type": "email", "to": ["ops@example.com"]}, '
            '{"type": "webhook", "url": "https://hooks.example.com/kpi"}].',
            "repeat_minutes": "Empty: notify on changes only; else notify again every N minutes while firing.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Empty lists reach the rule service, whose messages say what a rule needs.
        self.fields["channels"].required = False
        self.fields["statuses"].required = False

    def clean(self):
        cleaned = super().clean()
        assert cleaned is not None, "ModelForm.clean returns cleaned_data"
        if self.errors:
            return cleaned
        try:
            cleaned.update(alert_rule_clean({name: cleaned.get(name) for name in RULE_FIELDS}))
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
        return cleaned


@admin.register(AlertRule)
class AlertRuleAdmin(StaffPagesMixin, admin.ModelAdmin):
    """Each staff member's own rules (superusers: all), written through the alert rule services."""

    form = AlertRuleForm
    list_display = ("name", "kpi", "condition", "state", "last_value", "last_status", "last_evaluated_at", "events")
    list_filter = ("state", "condition")
    list_select_related = ("kpi", "created_by")
    search_fields = ("name", "kpi__name")
    ordering = ("name", "id")
    readonly_fields = ("state", "last_value", "last_status", "last_evaluated_at", "created_by", "created_at", "events")

    def get_queryset(self, request):
        return alert_rules_visible_to(request.user)

    @admin.display(description="events")
    def events(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return format_html(
            '<a href="{}">Events and deliveries</a>', reverse("admin:dashboard_alertrule_events", args=[obj.pk])
        )

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in RULE_FIELDS}
        if change:
            alert_rule_update(rule=obj, **fields)
            return
        created = alert_rule_create(created_by=request.user, **fields)
        obj.pk = created.rule.pk
        # The signing secret is shown once, as the API shows it once on creation.
        self.message_user(
            request, f"Webhook signing secret (shown only now): {created.webhook_secret}", messages.WARNING
        )

    def delete_model(self, request, obj):
        alert_rule_delete(rule=obj)


@admin.register(Board)
class BoardAdmin(StaffPagesMixin, admin.ModelAdmin):
    """The boards the staff member sees, each opening its page; boards are built through the API (the SPA)."""

    list_display = ("board_link", "description", "owner", "shared", "panel_count", "updated_at")
    list_display_links = None
    search_fields = ("name", "description")
    ordering = ("name", "id")

    def get_queryset(self, request):
        return boards_visible_to(request.user).select_related("owner")

    @admin.display(description="board", ordering="name")
    def board_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:dashboard_board_page", args=[obj.pk]), obj.name)

    @admin.display(description="shared with")
    def shared(self, obj):
        return ", ".join(role.name for role in obj.shared_with.all()) or "—"

    @admin.display(description="panels")
    def panel_count(self, obj):
        return len(obj.panels.all())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
