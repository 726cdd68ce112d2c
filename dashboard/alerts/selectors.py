"""Reads of alerts: the rules a user sees, a rule's events with their deliveries, which KPIs have a firing rule."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from dashboard.alerts.models import AlertDelivery, AlertEvent, AlertRule


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
