"""Shapes of alert rules, their events and delivery attempts in the API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dashboard.alerts.models import AlertDelivery, AlertEvent, AlertRule
from dashboard.alerts.rules import ALERT_STATUSES
from dashboard.fields import FiniteFloatField, TimeZoneField
from dashboard.kpis.models import KPI

CHANNEL_SCHEMA = {
    "type": "object",
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["email"]},
                "to": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 1},
            },
            "required": ["type", "to"],
        },
        {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["webhook"]},
                "url": {"type": "string", "format": "uri", "description": "http(s), resolving to public addresses"},
            },
            "required": ["type", "url"],
        },
    ],
}


@extend_schema_field({"type": "array", "items": CHANNEL_SCHEMA, "minItems": 1})
class ChannelsField(serializers.JSONField):
    """The rule's channels; their contents are checked by the rule service (shape, addresses, webhook URL safety)."""


class AlertRuleSerializer(serializers.ModelSerializer):
    kpi = serializers.PrimaryKeyRelatedField(queryset=KPI.objects.all())
    statuses = serializers.ListField(child=serializers.ChoiceField(ALERT_STATUSES), required=False)
    threshold = FiniteFloatField(required=False, allow_null=True)
    tz = TimeZoneField(required=False)
    channels = ChannelsField()
    repeat_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=525_600)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kpi",
            "condition",
            "statuses",
            "threshold",
            "tz",
            "channels",
            "repeat_minutes",
            "muted_until",
            "state",
            "last_value",
            "last_status",
            "last_evaluated_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["state", "last_value", "last_status", "last_evaluated_at", "created_by", "created_at"]


class AlertRuleCreatedSerializer(AlertRuleSerializer):
    """The rule as created, with its webhook signing secret: the only response but rotate-secret that shows it."""

    webhook_secret = serializers.CharField(read_only=True)

    class Meta(AlertRuleSerializer.Meta):
        fields = [*AlertRuleSerializer.Meta.fields, "webhook_secret"]


class WebhookSecretSerializer(serializers.Serializer):
    webhook_secret = serializers.CharField(read_only=True)


class AlertDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = ["channel", "attempt", "status_code", "error", "delivered_at", "attempted_at", "scheduled_for"]


class AlertEventSerializer(serializers.ModelSerializer):
    deliveries = AlertDeliverySerializer(many=True, read_only=True)

    class Meta:
        model = AlertEvent
        fields = ["event_id", "type", "created_at", "value", "status", "period_start", "notified", "deliveries"]
