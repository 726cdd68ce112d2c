"""Reads of uploads: the one rule of who sees which upload (the same as for metrics)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from dashboard.metrics.selectors import VIEW_ALL_METRICS
from dashboard.uploads.models import Upload


def uploads_visible_to(user: User) -> QuerySet[Upload]:
    uploads = Upload.objects.all()
    if user.has_perm(VIEW_ALL_METRICS):
        return uploads
    return uploads.filter(created_by_id=user.pk)
