"""Permission classes of dashboard endpoints beyond the project's model permissions."""

from __future__ import annotations

from core.permissions import VisibleObjectModelPermissions


class VisibleObjectChangePermissions(VisibleObjectModelPermissions):
    """For POST actions on one object that change it (an alert's ``test``, ``rotate-secret``): ``change_<model>``."""

    perms_map = {**VisibleObjectModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}
