"""``manage.py uploads_purge_files``: delete the stored files of old uploads, keeping their records."""

from __future__ import annotations

import argparse
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from dashboard.uploads.services import upload_files_purge


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days.") from None
    if days < 0:
        raise argparse.ArgumentTypeError("must be 0 or more days.")
    return days


class Command(BaseCommand):
    help = (
        "Delete the stored files of finished uploads older than --days (default: UPLOAD_RETENTION_DAYS). "
        "The Upload records and the metrics they imported stay."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=_days,
            default=None,
            help="Keep the files of the last N days "
            f"(default: UPLOAD_RETENTION_DAYS, here {settings.UPLOAD_RETENTION_DAYS}).",
        )

    def handle(self, *args, days: int | None, **options):
        if days is None:
            days = settings.UPLOAD_RETENTION_DAYS
        purged = upload_files_purge(older_than=timedelta(days=days))
        self.stdout.write(
            f"Deleted the stored files of {purged} upload(s) older than {days} day(s); their records stay."
        )
