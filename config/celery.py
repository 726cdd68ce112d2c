"""The Celery app: ``celery -A config worker``. Used only when CELERY_BROKER_URL is set."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app's tasks module, and the dashboard's features' (task names stay ``dashboard.tasks.*``, as queued messages
# and the beat schedule name them).
app.autodiscover_tasks()
app.autodiscover_tasks(["dashboard.uploads", "dashboard.alerts"])
