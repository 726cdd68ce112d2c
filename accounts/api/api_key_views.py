"""API keys: one's own (``users/me/api-keys``, with a JWT only) and everyone's (``admin/api-keys``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.api_key_serializers import (
    AdminApiKeyFilterSerializer,
    AdminApiKeyOutputSerializer,
    ApiKeyCreatedSerializer,
    ApiKeyInputSerializer,
    ApiKeyOutputSerializer,
)
from accounts.permissions import IsAuthenticatedWithJWT
from accounts.request_user import request_user
from accounts.selectors import api_keys_list, api_keys_of, api_keys_visible_to
from accounts.services.api_keys import api_key_create, api_key_revoke
from core.permissions import VisibleObjectModelPermissions
from core.request_data import plain_data


class MeApiKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's keys, with a JWT only: a key never creates, lists or revokes keys."""

    permission_classes = [IsAuthenticatedWithJWT]
    serializer_class = ApiKeyOutputSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return api_keys_of(user=request_user(self.request))

    @extend_schema(request=ApiKeyInputSerializer, responses={status.HTTP_201_CREATED: ApiKeyCreatedSerializer})
    def create(self, request: Request) -> Response:
        serializer = ApiKeyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = api_key_create(user=request_user(request), **serializer.validated_data)
        body = {**ApiKeyOutputSerializer(issued.api_key).data, "key": issued.key}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(description="Revoke the key: it answers 401 from the next request on.")
    def destroy(self, request: Request, pk=None) -> Response:
        api_key_revoke(api_key=self.get_object(), actor=request_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdminApiKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Every key (``accounts.view_apikey``); DELETE revokes (``accounts.delete_apikey``)."""

    permission_classes = [VisibleObjectModelPermissions]
    serializer_class = AdminApiKeyOutputSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return api_keys_visible_to(user=request_user(self.request))

    @extend_schema(parameters=[AdminApiKeyFilterSerializer])
    def list(self, request: Request) -> Response:
        filters = AdminApiKeyFilterSerializer(data=plain_data(request.query_params))
        filters.is_valid(raise_exception=True)
        keys = api_keys_list(user_id=filters.validated_data.get("user"), active=filters.validated_data.get("active"))
        page = self.paginate_queryset(keys)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(description="Revoke the key: it answers 401 from the next request on.")
    def destroy(self, request: Request, pk=None) -> Response:
        api_key_revoke(api_key=self.get_object(), actor=request_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
