"""The dashboard app: metrics, their rollups, uploads, KPIs, alerts and boards, each a package of its own."""

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        # Connected and registered once the models are loaded (the usual place for an app's receivers and hooks).
        from dashboard.alerts.queue import alerts_queue_register
        from dashboard.alerts.tasks import CeleryAlertQueue
        from dashboard.uploads import signals  # noqa: F401
        from dashboard.uploads.services import uploads_queue_register
        from dashboard.uploads.tasks import CeleryUploadQueue

        alerts_queue_register(CeleryAlertQueue())
        uploads_queue_register(CeleryUploadQueue())
