"""Permission classes of dashboard endpoints beyond the project's model permissions."""

from __future__ import annotations

from core.permissions import VisibleObjectModelPermissions


class VisibleObjectChangePermissions(VisibleObjectModelPermissions):
    """For POST actions on one object that change it (an alert's ``test``, ``rotate-secret``): ``change_<model>``."""

    perms_map = {**VisibleObjectModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


# What a board panel's data needs beyond view_board: the permission of the endpoint that gives it.
BOARD_PANEL_PERMISSIONS = {
    "kpi": "dashboard.view_kpi",
    "summary": "dashboard.view_kpi",
    "series": "dashboard.view_metric",
}


def board_missing_permissions(user, board) -> list[str]:
    """The permissions *user* lacks to see the data of every panel of *board* (sorted; empty when none)."""
    needed = {BOARD_PANEL_PERMISSIONS[panel.type] for panel in board.panels.all()}
    return sorted(perm for perm in needed if not user.has_perm(perm))
