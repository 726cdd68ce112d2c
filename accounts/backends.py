"""The authentication backend: Django's ModelBackend, with permissions answered from the cached access profile."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from accounts.authz import access_profile


class CachedPermissionsBackend(ModelBackend):
    """Logs in like ModelBackend; ``get_all_permissions``/``has_perm`` read ``accounts.authz.access_profile`` (no
    query on a warm cache). Object permissions stay unsupported, as in ModelBackend."""

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        return set(access_profile(user_obj).permissions)

    def has_perm(self, user_obj, perm, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return False
        return perm in access_profile(user_obj).permissions

    def has_module_perms(self, user_obj, app_label):
        if not user_obj.is_active or user_obj.is_anonymous:
            return False
        return any(perm.partition(".")[0] == app_label for perm in access_profile(user_obj).permissions)
