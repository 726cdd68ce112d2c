"""``manage.py uploads_settle``: mark uploads left in ``processing`` by a dead worker as failed."""

from __future__ import annotations

import argparse
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from dashboard.uploads.services import uploads_settle


def _positive_minutes(value: str) -> int:
    try:
        minutes = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of minutes.") from None
    if minutes < 1:
        raise argparse.ArgumentTypeError("must be at least 1 minute.")
    return minutes


class Command(BaseCommand):
    help = (
        "Mark uploads that have been processing for longer than --stale-minutes as failed. Their import "
        "transaction died with its worker, so nothing of them was imported; the owner can upload the file again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-minutes",
            type=_positive_minutes,
            default=None,
            help="Minutes an upload may stay in processing before it counts as interrupted (default: the broker's "
            "visibility timeout + 10, i.e. settings.UPLOAD_STALE_AFTER). Keep it above the visibility timeout, or a "
            "redelivered import finds its upload already failed. A running import holds its upload's lock and is "
            "never settled.",
        )

    def handle(self, *args, stale_minutes: int | None, **options):
        if stale_minutes is None:
            stale_minutes = int(settings.UPLOAD_STALE_AFTER.total_seconds() // 60)
        settled = uploads_settle(stale_after=timedelta(minutes=stale_minutes))
        self.stdout.write(f"Marked {settled} upload(s) processing for more than {stale_minutes} minute(s) as failed.")
