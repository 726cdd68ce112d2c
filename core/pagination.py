"""The seed's skip/limit pagination, strict about bad values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from rest_framework.request import Request
    from rest_framework.views import APIView


class SkipLimitPagination(LimitOffsetPagination):
    """``?skip=0&limit=100``; limit capped at 1000; non-integers or negatives are a 400, not silently ignored."""

    offset_query_param = "skip"
    limit_query_param = "limit"
    default_limit: int = 100
    max_limit: int = 1000

    def _read(self, request: Request, param: str, default: int, minimum: int) -> int:
        raw = request.query_params.get(param)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValidationError({param: ["A whole number is required."]}) from None
        if value < minimum:
            raise ValidationError({param: [f"Ensure this value is greater than or equal to {minimum}."]})
        return value

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        minimum = {self.limit_query_param: 1, self.offset_query_param: 0}
        for parameter in parameters:
            parameter["schema"]["minimum"] = minimum[parameter["name"]]
        return parameters

    def get_limit(self, request: Request) -> int:
        return min(self._read(request, self.limit_query_param, self.default_limit, 1), self.max_limit)

    def get_offset(self, request: Request) -> int:
        return self._read(request, self.offset_query_param, 0, 0)

    # Set by a view that knows its exact count more cheaply than COUNT(*) (metrics: from their hourly rollup).
    known_count: int | None = None

    def get_count(self, queryset: QuerySet[Any] | Sequence[Any]) -> int:
        return self.known_count if self.known_count is not None else super().get_count(queryset)
