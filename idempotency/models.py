"""A claimed ``Idempotency-Key``: unique per (user, route, key), so every process and host agrees who runs first."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """One request made with an ``Idempotency-Key``: in progress while ``status_code`` is null, then its response."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    route = models.CharField(max_length=100, help_text="The URL name of the endpoint.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path, query and body.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    response_body = models.BinaryField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "route", "key"], name="idempotency_record_user_route_key"),
        ]

    def __str__(self) -> str:
        return f"{self.route} {self.key!r} ({self.status_code or 'in progress'})"

    @property
    def in_progress(self) -> bool:
        return self.status_code is None
