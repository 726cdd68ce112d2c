"""RBAC enforcement: model permissions (reads included) and explicit permissions for views without a model."""

from __future__ import annotations

from rest_framework.permissions import BasePermission, DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    """DRF's model permissions, except that reading also needs ``view_<model>`` (DRF asks nothing for GET)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class IsAuthenticatedUser(BasePermission):
    """Any active, authenticated user (``users/me``)."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)


def require_permissions(*perms: str) -> type[BasePermission]:
    """A permission class demanding an authenticated user holding every one of *perms* (``app.codename``)."""

    class HasPermissions(BasePermission):
        required = perms

        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    HasPermissions.__name__ = "Requires_" + "_".join(p.replace(".", "_") for p in perms)
    return HasPermissions
