from django.apps import AppConfig


class StaffConfig(AppConfig):
    """The staff UI inside the admin: its templates, static files and template filters live in this package."""

    name = "dashboard.staff"
    label = "dashboard_staff"
    verbose_name = "Dashboard staff pages"
