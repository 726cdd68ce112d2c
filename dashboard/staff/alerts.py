"""Staff pages of alert rules: a rule's events and every delivery attempt."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404

from accounts.request_user import request_user
from dashboard.alerts.models import AlertRule
from dashboard.alerts.selectors import alert_events_of, alert_rules_visible_to
from dashboard.staff.views import StaffPage

EVENTS_PER_PAGE = 50


class AlertRuleEventsView(StaffPage):
    """The events of one of the staff member's rules (another's is a 404), newest first, with their attempts."""

    permission_required = "dashboard.view_alertrule"
    model = AlertRule
    template_name = "admin/dashboard/alertrule/events.html"

    def get_context_data(self, **kwargs) -> dict:
        rule = get_object_or_404(alert_rules_visible_to(request_user(self.request)), pk=self.kwargs["pk"])
        page = Paginator(alert_events_of(rule=rule), EVENTS_PER_PAGE).get_page(self.request.GET.get("page"))
        return super().get_context_data(rule=rule, page=page, title=f"{rule.name}: events", **kwargs)
