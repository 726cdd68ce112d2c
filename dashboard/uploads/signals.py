"""Signal receivers of uploads."""

from __future__ import annotations

from django.db.models.signals import post_delete
from django.dispatch import receiver

from dashboard.rollup.write import rollup_drop_upload
from dashboard.uploads.models import Upload


@receiver(post_delete, sender=Upload, dispatch_uid="dashboard.upload_rollup_cells")
def upload_deleted(sender, instance: Upload, using: str, **kwargs) -> None:
    """However an upload is deleted (service, admin, cascade), the rollup cells and totals of its metrics go with it."""
    rollup_drop_upload(upload_id=instance.pk, using=using)
