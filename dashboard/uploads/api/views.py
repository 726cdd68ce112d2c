"""The uploads API: send a CSV file for import, list and read uploads, delete one with its metrics."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
)
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_user import request_user
from core.exception_handler import ApiError
from core.parsers import FormParser, MultiPartParser
from core.permissions import OwnObjectsOnly, VisibleObjectModelPermissions, require_permissions
from core.throttles import UserThrottle
from core.validation import validated_data
from dashboard.fields import query_params
from dashboard.uploads.api.serializers import UploadInputSerializer, UploadQuerySerializer, UploadSerializer
from dashboard.uploads.selectors import uploads_visible_to
from dashboard.uploads.services import ImportFailure, metrics_import, upload_delete
from idempotency.decorators import IDEMPOTENCY_KEY_PARAMETER, idempotent


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
        allow_duplicate = query_params(UploadQuerySerializer, request)["allow_duplicate"]
        data = validated_data(UploadInputSerializer, request.data)
        outcome = metrics_import(
            file=data["file"],
            owner=request_user(request),
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


class UploadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller's uploads (everyone's with view_all_metrics); DELETE removes exactly the metrics one imported."""

    serializer_class = UploadSerializer
    permission_classes = [VisibleObjectModelPermissions, OwnObjectsOnly]
    owner_field = "created_by"
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return uploads_visible_to(request_user(self.request)).order_by("-created_at", "-id")

    def destroy(self, request: Request, pk=None) -> Response:
        upload_delete(upload=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
