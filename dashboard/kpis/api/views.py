"""The KPI API: CRUD of KPIs, a KPI's series, and the summary of every KPI."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
)
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from accounts.request_user import request_user
from core.permissions import ModelPermissions, require_permissions
from dashboard.fields import RangeQuerySerializer, query_params
from dashboard.kpis.api.serializers import (
    KPISerializer,
    KPISeriesSerializer,
    KPISummarySerializer,
    kpi_series_body,
    summary_item,
)
from dashboard.kpis.models import KPI
from dashboard.kpis.selectors import kpi_list, kpi_series, kpi_summary
from dashboard.kpis.services import kpi_create, kpi_delete, kpi_update


class KPIViewSet(viewsets.ModelViewSet):
    serializer_class = KPISerializer
    permission_classes = [ModelPermissions]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return kpi_list()

    def perform_create(self, serializer: BaseSerializer[KPI]) -> None:
        serializer.instance = kpi_create(created_by=request_user(self.request), **serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer[KPI]) -> None:
        assert serializer.instance is not None  # an update's serializer holds the KPI get_object() found
        serializer.instance = kpi_update(kpi=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance) -> None:
        kpi_delete(kpi=instance)

    @extend_schema(parameters=[RangeQuerySerializer], responses=KPISeriesSerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def series(self, request: Request, pk=None) -> Response:
        kpi = self.get_object()
        query = query_params(RangeQuerySerializer, request)
        points = kpi_series(user=request_user(request), kpi=kpi, tz=query["tz"], start=query["start"], end=query["end"])
        return Response(kpi_series_body(kpi=kpi, points=points))


class SummaryView(APIView):
    permission_classes = [require_permissions("dashboard.view_kpi")]

    @extend_schema(
        parameters=[OpenApiParameter("tz", str, description="IANA time zone name; default TIME_ZONE.")],
        responses=KPISummarySerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        tz = query_params(RangeQuerySerializer, request)["tz"]
        return Response([summary_item(row) for row in kpi_summary(user=request_user(request), tz=tz)])
