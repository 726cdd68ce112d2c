"""The metrics API: list, create (one or many), read, change, delete, export as CSV, names and series."""

from __future__ import annotations

from typing import Any, cast

from django.http import StreamingHttpResponse
from drf_spectacular.utils import (
    OpenApiTypes,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.request_user import request_user
from core.pagination import SkipLimitPagination
from core.permissions import OwnObjectsOnly, VisibleObjectModelPermissions
from core.request_data import plain_data
from dashboard.fields import query_params
from dashboard.metrics.api.serializers import (
    METRICS_CREATE_MAX,
    MetricInputSerializer,
    MetricNameSerializer,
    MetricQuerySerializer,
    MetricSerializer,
    SeriesQuerySerializer,
    SeriesSerializer,
    series_body,
)
from dashboard.metrics.csv_format import export_lines
from dashboard.metrics.selectors import (
    MetricFilters,
    metric_count,
    metric_list,
    metric_names,
    metric_series,
    metrics_visible_to,
)
from dashboard.metrics.services import metric_delete, metric_update, metrics_create
from idempotency.decorators import IDEMPOTENCY_KEY_PARAMETER, idempotent

EXPORT_CHUNK_ROWS = 2000


# The query serializer itself, so the schema states its exact rules (owner >= 1, names <= 255 characters...).
METRIC_FILTER_PARAMETERS = [MetricQuerySerializer]


def _metric_filters(request: Request) -> MetricFilters:
    query = query_params(MetricQuerySerializer, request)
    return MetricFilters(
        name=query.get("name"),
        names=query.get("name__in"),
        start=query["start"],
        end=query["end"],
        owner=query.get("owner"),
        ordering=query.get("ordering"),
    )


class MetricViewSet(viewsets.ModelViewSet):
    """Metrics the caller may see; writes only to one's own."""

    serializer_class = MetricSerializer
    permission_classes = [VisibleObjectModelPermissions, OwnObjectsOnly]
    owner_field = "owner"
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return metrics_visible_to(request_user(self.request))

    @extend_schema(parameters=METRIC_FILTER_PARAMETERS)
    def list(self, request: Request) -> Response:
        filters = _metric_filters(request)
        user = request_user(request)
        metrics = metric_list(user=user, filters=filters)
        # The project's DEFAULT_PAGINATION_CLASS.
        cast(SkipLimitPagination, self.paginator).known_count = metric_count(user=user, filters=filters)
        # Rows, not model instances: the serializer renders them alike, without building a Metric per row.
        columns = MetricSerializer.row_columns()
        assert columns is not None  # MetricSerializer has no field that needs an instance
        page = self.paginate_queryset(metrics.values_list(*columns, named=True))
        return self.get_paginated_response(MetricSerializer(page, many=True).data)

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="MetricCreate",
            serializers=[MetricInputSerializer, MetricInputSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            201: PolymorphicProxySerializer(
                component_name="MetricCreated",
                serializers=[MetricSerializer, MetricSerializer(many=True)],
                resource_type_field_name=None,
                many=False,
            )
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        description="One metric object, or a list of up to 10,000 (all or nothing; errors keyed by list index).",
    )
    @idempotent
    def create(self, request: Request) -> Response:
        many = isinstance(request.data, list)
        kwargs: dict[str, Any] = {"many": True, "max_length": METRICS_CREATE_MAX, "allow_empty": False} if many else {}
        serializer = MetricInputSerializer(data=plain_data(request.data), **kwargs)
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data if many else [serializer.validated_data]
        metrics = metrics_create(owner=request_user(request), items=items)
        data = MetricSerializer(metrics, many=True).data
        return Response(data if many else data[0], status=status.HTTP_201_CREATED)

    @extend_schema(request=MetricInputSerializer, responses=MetricSerializer)
    def partial_update(self, request: Request, pk=None) -> Response:
        metric = self.get_object()
        serializer = MetricInputSerializer(data=plain_data(request.data), partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(MetricSerializer(metric_update(metric=metric, **serializer.validated_data)).data)

    def destroy(self, request: Request, pk=None) -> Response:
        metric_delete(metric=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=METRIC_FILTER_PARAMETERS, responses=MetricNameSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def names(self, request: Request) -> Response:
        rows = metric_names(user=request_user(request), filters=_metric_filters(request))
        return Response(MetricNameSerializer(rows, many=True).data)

    @extend_schema(parameters=[SeriesQuerySerializer], responses=SeriesSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def series(self, request: Request) -> Response:
        query = query_params(SeriesQuerySerializer, request)
        points = metric_series(
            user=request_user(request),
            name=query["name"],
            bucket=query["bucket"],
            agg=query["agg"],
            tz=query["tz"],
            start=query["start"],
            end=query["end"],
        )
        return Response(
            series_body(name=query["name"], bucket=query["bucket"], agg=query["agg"], tz=query["tz"], points=points)
        )

    @extend_schema(parameters=METRIC_FILTER_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request: Request) -> StreamingHttpResponse:
        metrics = metric_list(user=request_user(request), filters=_metric_filters(request))
        # The same filters, without the ordering, one row: any error the query raises becomes an error response
        # here, before a 200 and its headers are sent. (Not the stream's own first row: an unconsumed stream would
        # keep a server-side cursor open.)
        list(metrics.order_by().values_list("pk", flat=True)[:1])
        rows = metrics.values_list("name", "value", "timestamp").iterator(chunk_size=EXPORT_CHUNK_ROWS)
        response = StreamingHttpResponse(export_lines(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="metrics.csv"'
        return response
