"""RBAC enforcement: model permissions (reads included) and explicit permissions for views without a model."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission, DjangoModelPermissions, IsAuthenticated
from rest_framework_simplejwt.tokens import Token

from accounts import rbac
from accounts.api_keys import bearer_api_key


class MissingPermissions(exceptions.PermissionDenied):
    """403 ``permission_denied`` naming the permissions (``app.codename``) the caller lacks, as ``missing``."""

    def __init__(self, missing: list[str]):
        super().__init__(f"You do not have the permission this needs: {', '.join(missing)}.")
        self.extra = {"missing": missing}


def check_permissions(user, perms: Iterable[str]) -> bool:
    """Whether *user* holds every one of *perms*. An authenticated user who lacks some gets MissingPermissions naming
    them; an anonymous one gets False (so DRF answers 401, not 403)."""
    perms = list(perms)
    if not (user and user.is_authenticated):
        return False
    if user.has_perms(perms):
        return True
    raise MissingPermissions([perm for perm in perms if not user.has_perm(perm)])


class ModelPermissions(DjangoModelPermissions):
    """DRF's model permissions, except that reading also needs ``view_<model>`` (DRF asks nothing for GET); a refusal
    names the missing permissions."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        if super().has_permission(request, view):
            return True
        if not (request.user and request.user.is_authenticated):
            return False  # 401, and no queryset built for an anonymous caller
        return check_permissions(
            request.user, self.get_required_permissions(request.method, self._queryset(view).model)
        )


class RefusesApiKeys(BasePermission):
    """For views without authentication (``auth/*``): a request presenting an API key is a 403."""

    message = "API keys cannot be used on auth endpoints."

    def has_permission(self, request, view) -> bool:
        return bearer_api_key(request.META.get("HTTP_AUTHORIZATION", "")) is None


class IsAuthenticatedWithJWT(IsAuthenticated):
    """An authenticated user whose credential is a JWT access token (never an API key): ``users/me/mfa*``."""

    message = "This endpoint needs a login session (a JWT access token), not an API key."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and isinstance(request.auth, Token)


def require_permissions(*perms: str) -> type[BasePermission]:
    """A permission class demanding an authenticated user holding every one of *perms* (``app.codename``)."""

    class HasPermissions(BasePermission):
        required = perms

        def has_permission(self, request, view) -> bool:
            return check_permissions(request.user, perms)

    HasPermissions.__name__ = "Requires_" + "_".join(p.replace(".", "_") for p in perms)
    return HasPermissions


def is_detail_route(view) -> bool:
    """Whether *view* (a viewset) is serving one object, i.e. its lookup keyword is in the URL."""
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk")
    return lookup in view.kwargs


class VisibleObjectModelPermissions(ModelPermissions):
    """Model permissions checked *after* the object lookup on detail routes.

    Detail routes first find the object among what the caller may see (the view's queryset), so an invisible object is
    a 404 for every method, even for a caller who lacks the method's permission; a visible one the caller may not act
    on is then a 403.
    """

    def has_permission(self, request, view) -> bool:
        if is_detail_route(view):
            return bool(request.user and request.user.is_authenticated)
        return super().has_permission(request, view)

    def has_object_permission(self, request, view, obj) -> bool:
        return super().has_permission(request, view)


class OwnObjectsOnly(BasePermission):
    """Writes only to objects the caller owns (``view.owner_field``); superusers pass. Reads are not restricted here."""

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS") or request.user.is_superuser:
            return True
        return getattr(obj, f"{view.owner_field}_id") == request.user.pk


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
