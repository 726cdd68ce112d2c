"""Dashboard endpoints: metrics, their names, series and export; KPIs, their series and the summary."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    OpenApiTypes,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exception_handler import ApiError
from core.parsers import FormParser, MultiPartParser
from core.permissions import ModelPermissions, OwnObjectsOnly, VisibleObjectModelPermissions, require_permissions
from core.request_data import plain_data
from core.throttles import UserThrottle
from core.validation import validated_data
from dashboard.api.serializers import (
    METRICS_CREATE_MAX,
    KPISerializer,
    KPISeriesSerializer,
    KPISummarySerializer,
    MetricInputSerializer,
    MetricNameSerializer,
    MetricQuerySerializer,
    MetricSerializer,
    RangeQuerySerializer,
    SeriesQuerySerializer,
    SeriesSerializer,
    UploadInputSerializer,
    UploadQuerySerializer,
    UploadSerializer,
    kpi_series_body,
    series_body,
    summary_item,
)
from dashboard.csv_format import export_lines
from dashboard.selectors import (
    MetricFilters,
    kpi_list,
    kpi_series,
    kpi_summary,
    metric_count,
    metric_list,
    metric_names,
    metric_series,
    metrics_visible_to,
    uploads_visible_to,
)
from dashboard.services import kpi_create, kpi_delete, kpi_update, metric_delete, metric_update, metrics_create
from dashboard.services.uploads import ImportFailure, metrics_import, upload_delete
from idempotency.decorators import IDEMPOTENCY_KEY_PARAMETER, idempotent

EXPORT_CHUNK_ROWS = 2000

# The query serializer itself, so the schema states its exact rules (owner >= 1, names <= 255 characters...).
METRIC_FILTER_PARAMETERS = [MetricQuerySerializer]


def _query(serializer_class, request: Request) -> dict:
    return validated_data(serializer_class, plain_data(request.query_params))


def _metric_filters(request: Request) -> MetricFilters:
    query = _query(MetricQuerySerializer, request)
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
        return metrics_visible_to(self.request.user)

    @extend_schema(parameters=METRIC_FILTER_PARAMETERS)
    def list(self, request: Request) -> Response:
        filters = _metric_filters(request)
        metrics = metric_list(user=request.user, filters=filters)
        self.paginator.known_count = metric_count(user=request.user, filters=filters)
        # Rows, not model instances: the serializer renders them alike, without building a Metric per row.
        page = self.paginate_queryset(metrics.values_list(*MetricSerializer.row_columns(), named=True))
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
        kwargs = {"many": True, "max_length": METRICS_CREATE_MAX, "allow_empty": False} if many else {}
        serializer = MetricInputSerializer(data=plain_data(request.data), **kwargs)
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data if many else [serializer.validated_data]
        metrics = metrics_create(owner=request.user, items=items)
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
        rows = metric_names(user=request.user, filters=_metric_filters(request))
        return Response(MetricNameSerializer(rows, many=True).data)

    @extend_schema(parameters=[SeriesQuerySerializer], responses=SeriesSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def series(self, request: Request) -> Response:
        query = _query(SeriesQuerySerializer, request)
        points = metric_series(
            user=request.user,
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
        metrics = metric_list(user=request.user, filters=_metric_filters(request))
        # The same filters, without the ordering, one row: any error the query raises becomes an error response
        # here, before a 200 and its headers are sent. (Not the stream's own first row: an unconsumed stream would
        # keep a server-side cursor open.)
        list(metrics.order_by().values_list("pk", flat=True)[:1])
        rows = metrics.values_list("name", "value", "timestamp").iterator(chunk_size=EXPORT_CHUNK_ROWS)
        response = StreamingHttpResponse(export_lines(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="metrics.csv"'
        return response


class KPIViewSet(viewsets.ModelViewSet):
    serializer_class = KPISerializer
    permission_classes = [ModelPermissions]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return kpi_list()

    def perform_create(self, serializer: KPISerializer) -> None:
        serializer.instance = kpi_create(created_by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: KPISerializer) -> None:
        serializer.instance = kpi_update(kpi=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance) -> None:
        kpi_delete(kpi=instance)

    @extend_schema(parameters=[RangeQuerySerializer], responses=KPISeriesSerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def series(self, request: Request, pk=None) -> Response:
        kpi = self.get_object()
        query = _query(RangeQuerySerializer, request)
        points = kpi_series(user=request.user, kpi=kpi, tz=query["tz"], start=query["start"], end=query["end"])
        return Response(kpi_series_body(kpi=kpi, points=points))


class SummaryView(APIView):
    permission_classes = [require_permissions("dashboard.view_kpi")]

    @extend_schema(
        parameters=[OpenApiParameter("tz", str, description="IANA time zone name; default TIME_ZONE.")],
        responses=KPISummarySerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        tz = _query(RangeQuerySerializer, request)["tz"]
        return Response([summary_item(row) for row in kpi_summary(user=request.user, tz=tz)])


class UploadView(APIView):
    """POST a CSV file of metrics: 201 when imported inline, 202 when queued to a worker."""

    permission_classes = [require_permissions("dashboard.add_upload")]
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UserThrottle]
    throttle_scope = "upload"

    @extend_schema(
        request={"multipart/form-data": UploadInputSerializer},
        parameters=[UploadQuerySerializer, IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: UploadSerializer,
            202: UploadSerializer,
            413: OpenApiResponse(description="payload_too_large: the file is over UPLOAD_MAX_BYTES."),
            415: OpenApiResponse(description="unsupported_media_type: a zip (an .xlsx workbook?), not CSV text."),
            429: OpenApiResponse(description="throttled: more than THROTTLE_UPLOAD uploads; see Retry-After."),
        },
    )
    @idempotent
    def post(self, request: Request) -> Response:
        allow_duplicate = _query(UploadQuerySerializer, request)["allow_duplicate"]
        data = validated_data(UploadInputSerializer, request.data)
        outcome = metrics_import(
            file=data["file"],
            owner=request.user,
            tz=data.get("tz") or ZoneInfo(settings.TIME_ZONE),
            allow_duplicate=allow_duplicate,
        )
        if outcome.failure is ImportFailure.DUPLICATE:
            raise ApiError(outcome.failure, outcome.message, upload=UploadSerializer(outcome.duplicate_of).data)
        body = UploadSerializer(outcome.upload).data
        if outcome.failure is not None:
            raise ApiError(
                outcome.failure, outcome.message, errors=outcome.errors, error_count=outcome.error_count, upload=body
            )
        return Response(body, status=status.HTTP_202_ACCEPTED if outcome.queued else status.HTTP_201_CREATED)


class UploadViewSet(viewsets.mixins.ListModelMixin, viewsets.mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller's uploads (everyone's with view_all_metrics); DELETE removes exactly the metrics one imported."""

    serializer_class = UploadSerializer
    permission_classes = [VisibleObjectModelPermissions, OwnObjectsOnly]
    owner_field = "created_by"
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return uploads_visible_to(self.request.user).order_by("-created_at", "-id")

    def destroy(self, request: Request, pk=None) -> Response:
        upload_delete(upload=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
