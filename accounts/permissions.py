"""The accounts app's permission classes: auth endpoints that refuse API keys, JWT-only endpoints, and the admin
API's no-escalation rules (the generic classes are in core.permissions)."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework_simplejwt.tokens import Token

from accounts import rbac
from accounts.api_key_rules import bearer_api_key
from core.permissions import VisibleObjectModelPermissions, check_permissions, is_detail_route


class RefusesApiKeys(BasePermission):
    """For views without authentication (``auth/*``): a request presenting an API key is a 403."""

    message = "API keys cannot be used on auth endpoints."

    def has_permission(self, request, view) -> bool:
        return bearer_api_key(request.headers.get("authorization", "")) is None


class IsAuthenticatedWithJWT(IsAuthenticated):
    """An authenticated user whose credential is a JWT access token (never an API key): ``users/me/mfa*``."""

    message = "This endpoint needs a login session (a JWT access token), not an API key."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and isinstance(request.auth, Token)


# --- the admin API (users and roles): visibility, then model permissions, then the no-escalation rules ---------


def _sent_fields(request) -> list[str]:
    data = request.data
    return list(data.keys()) if hasattr(data, "keys") else []


class AdminUserPermissions(VisibleObjectModelPermissions):
    """Visibility first (the queryset is ``users_visible_to``), then model permissions and the no-escalation rules:
    account flags only from superusers; changes only to users the caller may change.
    """

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method == "POST":
            rbac.check_account_flags(actor=request.user, fields=_sent_fields(request))
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        if not super().has_object_permission(request, view, obj):
            return False
        if request.method not in SAFE_METHODS:
            rbac.check_user_change(actor=request.user, target=obj)
            rbac.check_account_flags(actor=request.user, fields=_sent_fields(request))
        return True


class MfaResetPermissions(VisibleObjectModelPermissions):
    """admin/users/{id}/mfa-reset: the user must be visible, then ``accounts.change_user`` and the no-escalation rules
    (a non-superuser resets only ordinary users' MFA)."""

    def has_object_permission(self, request, view, obj) -> bool:
        check_permissions(request.user, ["accounts.change_user"])
        rbac.check_user_change(actor=request.user, target=obj)
        return True


class RolePermissions(VisibleObjectModelPermissions):
    """Visibility first (the queryset is ``roles_visible_to``); reads need ``auth.view_group``; writes: superusers."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS or is_detail_route(view):
            return super().has_permission(request, view)
        if not (request.user and request.user.is_authenticated):
            return False
        rbac.check_roles_write(actor=request.user)
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return super().has_object_permission(request, view, obj)
        rbac.check_roles_write(actor=request.user)
        return True
