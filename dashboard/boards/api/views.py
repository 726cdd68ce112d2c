"""Board endpoints: CRUD (owner edits, shared roles read), every panel's data in one call, export and import."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.request_user import request_user
from core.permissions import OwnObjectsOnly, VisibleObjectModelPermissions
from dashboard.boards.api.serializers import (
    BoardDataSerializer,
    BoardExportSerializer,
    BoardInputSerializer,
    BoardSerializer,
)
from dashboard.boards.models import Board, Panel
from dashboard.boards.selectors import PanelData, board_data, board_missing_permissions, boards_visible_to, panel_kpi
from dashboard.boards.services import board_create, board_delete, board_export, board_import, board_update
from dashboard.fields import RangeQuerySerializer
from dashboard.kpis.api.serializers import kpi_series_body, summary_item
from dashboard.metrics.api.serializers import series_body

PUT_DEFAULTS = {"description": "", "shared_with": [], "panels": []}


def _panel_body(data: PanelData, tz) -> dict:
    panel = data.panel
    body = {"id": panel.pk, "type": panel.type, "title": panel.title}
    if panel.type == Panel.Type.SUMMARY:
        body["summary"] = [summary_item(row) for row in data.summary_rows]
    elif panel.type == Panel.Type.KPI:
        body["summary"] = summary_item(data.summary_row)
    if data.error is not None:
        # What metrics/series or kpis/{id}/series would answer with its 400, in the envelope's error shape.
        body["error"] = {"detail": data.error.message, "code": data.error.code, **data.error.extra}
    elif panel.type == Panel.Type.KPI:
        body["series"] = kpi_series_body(kpi=panel_kpi(panel), points=data.points)
    elif panel.type == Panel.Type.SERIES:
        body["series"] = series_body(
            name=panel.metric_name, bucket=panel.metric_bucket, agg=panel.metric_agg, tz=tz, points=data.points
        )
    return body


@extend_schema(tags=["boards"])
class BoardViewSet(viewsets.ModelViewSet):
    """The boards the caller owns or that are shared with one of its roles; only the owner changes one."""

    serializer_class = BoardSerializer
    permission_classes = [VisibleObjectModelPermissions, OwnObjectsOnly]
    owner_field = "owner"
    lookup_value_regex = r"\d+"
    queryset = Board.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        return boards_visible_to(request_user(self.request))

    def _saved(self, board: Board) -> dict:
        return BoardSerializer(self.get_queryset().get(pk=board.pk)).data

    @extend_schema(request=BoardInputSerializer, responses={201: BoardSerializer})
    def create(self, request: Request) -> Response:
        serializer = BoardInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        board = board_create(owner=request_user(request), **serializer.validated_data)
        return Response(self._saved(board), status=status.HTTP_201_CREATED)

    @extend_schema(request=BoardInputSerializer, responses=BoardSerializer)
    def update(self, request: Request, pk=None, partial: bool = False) -> Response:
        board = self.get_object()
        serializer = BoardInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data if partial else {**PUT_DEFAULTS, **serializer.validated_data}
        return Response(self._saved(board_update(board=board, **fields)))

    @extend_schema(request=BoardInputSerializer, responses=BoardSerializer)
    def partial_update(self, request: Request, pk=None) -> Response:
        return self.update(request, pk=pk, partial=True)

    def perform_destroy(self, instance: Board) -> None:
        board_delete(board=instance)

    @extend_schema(
        parameters=[OpenApiParameter("tz", str, description="IANA time zone name; default TIME_ZONE.")],
        responses=BoardDataSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def data(self, request: Request, pk=None) -> Response:
        """Every panel's data for the caller, as summary, kpis/{id}/series and metrics/series give it."""
        board = self.get_object()
        user = request_user(request)
        missing = board_missing_permissions(user, board)
        if missing:
            denied = exceptions.PermissionDenied()
            denied.extra = {"missing": missing}  # type: ignore[attr-defined]  # the exception handler reads it
            raise denied
        query = RangeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        tz = query.validated_data["tz"]
        panels = [_panel_body(data, tz) for data in board_data(user=user, board=board, tz=tz)]
        return Response({"board": BoardSerializer(board).data, "panels": panels})

    @extend_schema(responses=BoardExportSerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def export(self, request: Request, pk=None) -> Response:
        """The board as JSON without ids or owner, KPIs by slug: what ``boards/import`` takes."""
        return Response(board_export(board=self.get_object()))

    @extend_schema(request=BoardExportSerializer, responses={201: BoardSerializer})
    @action(detail=False, methods=["post"], url_path="import", pagination_class=None)
    def import_board(self, request: Request) -> Response:
        """A new board of the caller's from an export; KPIs are matched by slug, unknown ones are a 400."""
        serializer = BoardExportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        board = board_import(owner=request_user(request), data=serializer.validated_data)
        return Response(self._saved(board), status=status.HTTP_201_CREATED)
