from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from dashboard import signals  # noqa: F401
        from dashboard.services.alerts import alerts_queue_register
        from dashboard.services.uploads import uploads_queue_register
        from dashboard.tasks import CeleryAlertQueue, CeleryUploadQueue

        alerts_queue_register(CeleryAlertQueue())
        uploads_queue_register(CeleryUploadQueue())
