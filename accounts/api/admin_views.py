"""Administration endpoints: users, roles and the assignable permissions (RBAC-gated, no privilege escalation)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.admin_serializers import (
    AdminUserFilterSerializer,
    AdminUserInputSerializer,
    PermissionOutputSerializer,
    RoleInputSerializer,
    RoleOutputSerializer,
)
from accounts.api.serializers import UserOutputSerializer
from accounts.permissions import AdminUserPermissions, MfaResetPermissions, RolePermissions
from accounts.request_user import request_user
from accounts.selectors import (
    permissions_list,
    roles_list,
    roles_visible_to,
    users_list,
    users_visible_to,
    users_with_role_names,
)
from accounts.services.mfa import mfa_reset
from accounts.services.roles import role_create, role_delete, role_update
from accounts.services.users import user_create, user_delete, user_update
from core.permissions import require_permissions
from core.request_data import plain_data

# No PUT: every change is a PATCH.
ALLOWED_METHODS = ["get", "post", "patch", "delete", "head", "options"]


@extend_schema_view(
    destroy=extend_schema(
        responses={
            204: OpenApiResponse(description="Deleted."),
            409: OpenApiResponse(description="user_owns_data: the user owns data; deactivate the account instead."),
        }
    )
)
class AdminUserViewSet(viewsets.ModelViewSet):
    permission_classes = [AdminUserPermissions]
    serializer_class = UserOutputSerializer
    http_method_names = ALLOWED_METHODS

    def get_queryset(self):
        return users_visible_to(user=request_user(self.request))

    @extend_schema(parameters=[AdminUserFilterSerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        filters = AdminUserFilterSerializer(data=plain_data(request.query_params))
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(users_list(**filters.validated_data))
        assert page is not None  # DEFAULT_PAGINATION_CLASS is set: a page is always a list
        page = users_with_role_names(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=AdminUserInputSerializer, responses={status.HTTP_201_CREATED: UserOutputSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = AdminUserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_create(actor=request_user(request), **serializer.validated_data)
        return Response(self.get_serializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AdminUserInputSerializer, responses=UserOutputSerializer)
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        user = self.get_object()
        serializer = AdminUserInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = user_update(actor=request_user(request), user=user, **serializer.validated_data)
        return Response(self.get_serializer(user).data)

    def perform_destroy(self, instance) -> None:
        user_delete(actor=request_user(self.request), user=instance)

    @extend_schema(
        tags=["admin"],
        request=None,
        responses={204: OpenApiResponse(description="MFA is off for the user (whether or not it was on).")},
    )
    @action(detail=True, methods=["post"], url_path="mfa-reset", permission_classes=[MfaResetPermissions])
    def mfa_reset(self, request: Request, pk=None) -> Response:
        mfa_reset(actor=request_user(request), user=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoleViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = RoleOutputSerializer
    http_method_names = ALLOWED_METHODS

    def get_queryset(self):
        return roles_visible_to(user=request_user(self.request))

    @extend_schema(request=RoleInputSerializer, responses={status.HTTP_201_CREATED: RoleOutputSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = RoleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = role_create(actor=request_user(request), **serializer.validated_data)
        return Response(self.get_serializer(roles_list().get(pk=role.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RoleInputSerializer, responses=RoleOutputSerializer)
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        role = self.get_object()
        serializer = RoleInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        role = role_update(actor=request_user(request), role=role, **serializer.validated_data)
        return Response(self.get_serializer(roles_list().get(pk=role.pk)).data)

    def perform_destroy(self, instance) -> None:
        role_delete(actor=request_user(self.request), role=instance)


class PermissionListView(APIView):
    """The assignable permissions: every permission, as a plain (unpaginated) array."""

    permission_classes = [require_permissions("auth.view_permission")]

    @extend_schema(responses=PermissionOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(PermissionOutputSerializer(permissions_list(), many=True).data)
