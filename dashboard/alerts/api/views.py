"""Alert rule endpoints: CRUD of one's own rules, their events, a test notification and secret rotation."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.request_user import request_user
from core.permissions import VisibleObjectModelPermissions
from dashboard.alerts.api.serializers import (
    AlertEventSerializer,
    AlertRuleCreatedSerializer,
    AlertRuleSerializer,
    WebhookSecretSerializer,
)
from dashboard.alerts.evaluation import alert_rule_test
from dashboard.alerts.models import AlertRule
from dashboard.alerts.rules import alert_rule_create, alert_rule_delete, alert_rule_rotate_secret, alert_rule_update
from dashboard.alerts.selectors import alert_events_of, alert_rules_visible_to
from dashboard.permissions import VisibleObjectChangePermissions


def _fields(validated: dict) -> dict:
    if "tz" in validated:
        validated = {**validated, "tz": str(validated["tz"])}
    return validated


@extend_schema(tags=["alerts"])
class AlertRuleViewSet(viewsets.ModelViewSet):
    """The caller's alert rules (superusers: all); another user's rule is a 404."""

    serializer_class = AlertRuleSerializer
    permission_classes = [VisibleObjectModelPermissions]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return alert_rules_visible_to(request_user(self.request)).order_by("name", "id")

    @extend_schema(responses={201: AlertRuleCreatedSerializer})
    def create(self, request: Request) -> Response:
        serializer = AlertRuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = alert_rule_create(created_by=request_user(request), **_fields(serializer.validated_data))
        created.rule.webhook_secret = created.webhook_secret
        return Response(AlertRuleCreatedSerializer(created.rule).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: serializers.BaseSerializer[AlertRule]) -> None:
        assert serializer.instance is not None, "update() always passes the object it got"
        serializer.instance = alert_rule_update(rule=serializer.instance, **_fields(serializer.validated_data))

    def perform_destroy(self, instance) -> None:
        alert_rule_delete(rule=instance)

    @extend_schema(responses=AlertEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk=None) -> Response:
        """Every transition (and test or repeat notification) of the rule, newest first, with its attempts."""
        page = self.paginate_queryset(alert_events_of(rule=self.get_object()))
        return self.get_paginated_response(AlertEventSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: AlertEventSerializer})
    @action(detail=True, methods=["post"], permission_classes=[VisibleObjectChangePermissions])
    def test(self, request: Request, pk=None) -> Response:
        """Send an ``alert.test`` event to every channel of the rule."""
        event = alert_rule_test(rule=self.get_object())
        event = alert_events_of(rule=event.rule).get(pk=event.pk)
        return Response(AlertEventSerializer(event).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=WebhookSecretSerializer)
    @action(
        detail=True, methods=["post"], url_path="rotate-secret", permission_classes=[VisibleObjectChangePermissions]
    )
    def rotate_secret(self, request: Request, pk=None) -> Response:
        """A new webhook signing secret, shown once; the old one stops signing at once."""
        secret = alert_rule_rotate_secret(rule=self.get_object())
        return Response(WebhookSecretSerializer({"webhook_secret": secret}).data)
