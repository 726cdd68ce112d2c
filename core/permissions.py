"""Generic RBAC enforcement for every app: model permissions (reads included), explicit permissions for views
without a model, visibility before permission on detail routes, and owner-only writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from rest_framework import exceptions
from rest_framework.permissions import BasePermission, DjangoModelPermissions

if TYPE_CHECKING:  # rest_framework.views imports this module (DEFAULT_PERMISSION_CLASSES)
    from django.db.models import Model
    from rest_framework.request import Request
    from rest_framework.views import APIView


class MissingPermissions(exceptions.PermissionDenied):
    """403 ``permission_denied`` naming the permissions (``app.codename``) the caller lacks, as ``missing``."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"You do not have the permission this needs: {', '.join(missing)}.")
        self.extra = {"missing": missing}


class PermissionHolder(Protocol):
    """What :func:`check_permissions` reads of a user; the project's User and AnonymousUser both fit."""

    @property
    def is_authenticated(self) -> bool: ...
    def has_perm(self, perm: str, obj: Model | None = None) -> bool: ...
    def has_perms(self, perm_list: Iterable[str], obj: Model | None = None) -> bool: ...


def check_permissions(user: PermissionHolder | None, perms: Iterable[str]) -> bool:
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

    def has_permission(self, request: Request, view: APIView) -> bool:
        if super().has_permission(request, view):
            return True
        if not (request.user and request.user.is_authenticated):
            return False  # 401, and no queryset built for an anonymous caller
        assert request.method is not None  # always set on a request a view serves
        return check_permissions(
            request.user, self.get_required_permissions(request.method, self._queryset(view).model)
        )


def require_permissions(*perms: str) -> type[BasePermission]:
    """A permission class demanding an authenticated user holding every one of *perms* (``app.codename``)."""

    class HasPermissions(BasePermission):
        required = perms

        def has_permission(self, request: Request, view: APIView) -> bool:
            return check_permissions(request.user, perms)

    HasPermissions.__name__ = "Requires_" + "_".join(p.replace(".", "_") for p in perms)
    return HasPermissions


def is_detail_route(view: APIView) -> bool:
    """Whether *view* (a viewset) is serving one object, i.e. its lookup keyword is in the URL."""
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk")
    return lookup in view.kwargs


class VisibleObjectModelPermissions(ModelPermissions):
    """Model permissions checked *after* the object lookup on detail routes.

    Detail routes first find the object among what the caller may see (the view's queryset), so an invisible object is
    a 404 for every method, even for a caller who lacks the method's permission; a visible one the caller may not act
    on is then a 403.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        if is_detail_route(view):
            return bool(request.user and request.user.is_authenticated)
        return super().has_permission(request, view)

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return super().has_permission(request, view)


class OwnObjectsOnly(BasePermission):
    """Writes only to objects the caller owns (``view.owner_field``); superusers pass. Reads are not restricted here."""

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS") or request.user.is_superuser:
            return True
        owner_id: object = getattr(obj, f"{view.owner_field}_id")  # type: ignore[attr-defined]  # a class attribute of each view using this
        return owner_id == request.user.pk
