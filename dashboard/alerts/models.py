"""Alert rules watching KPIs, the events of their transitions, and every attempt to deliver them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.kpis.models import KPI


def _default_time_zone() -> str:
    return settings.TIME_ZONE


class AlertRule(models.Model):
    """Watches one KPI for its creator: a condition, where to tell, and the state of the last evaluation."""

    class Condition(models.TextChoices):
        STATUS = "status"
        ABOVE = "above"
        BELOW = "below"

    class State(models.TextChoices):
        OK = "ok"
        FIRING = "firing"

    name = models.CharField(max_length=255)
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="alert_rules")
    condition = models.CharField(max_length=8, choices=Condition.choices)
    statuses = models.JSONField(default=list, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    tz = models.CharField(max_length=64, default=_default_time_zone)
    channels = models.JSONField(default=list)
    repeat_minutes = models.PositiveIntegerField(null=True, blank=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    # Signs webhook bodies (HMAC needs the secret itself); shown once on creation and on rotation.
    webhook_secret = models.CharField(max_length=64, editable=False)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OK, editable=False)
    last_value = models.FloatField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=16, blank=True, editable=False)
    last_evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set by a write touching the KPI's metric without a broker; the next evaluation clears it.
    evaluation_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Compare-and-set guard: a transition is written only if nobody else wrote one since it was read.
    revision = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="alert_rules")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["kpi", "state"], name="alertrule_kpi_state_idx")]

    def __str__(self) -> str:
        return self.name


class AlertEvent(models.Model):
    """One transition of a rule (or a repeat or test notification); its ``event_id`` is the same on every retry."""

    class Type(models.TextChoices):
        FIRING = "alert.firing"
        RESOLVED = "alert.resolved"
        TEST = "alert.test"

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=16, choices=Type.choices)
    value = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=16, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    # False when the rule was muted: the transition is kept, nobody is told.
    notified = models.BooleanField(default=True)
    # The webhook body, fixed when the event happens so every retry sends the same bytes.
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["rule", "-created_at", "-id"], name="alertevent_rule_created_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class AlertDelivery(models.Model):
    """One attempt to tell one channel about an event; a failed attempt schedules the next one."""

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    # The channel as configured on the rule when the event happened ({"type": ..., "url"|"to": ...}).
    destination = models.JSONField(default=dict)
    attempt = models.PositiveSmallIntegerField(default=1)
    # Due time of an attempt not made yet; cleared (atomically) by whoever makes it.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "alert deliveries"
        indexes = [
            models.Index(
                fields=["scheduled_for"], condition=models.Q(scheduled_for__isnull=False), name="alertdelivery_due_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} attempt {self.attempt}"
