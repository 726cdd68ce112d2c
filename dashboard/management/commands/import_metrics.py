"""``manage.py import_metrics FILE --owner EMAIL``: import a metrics CSV now, through the one import service."""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from accounts.models import User
from core.errors import DomainError
from dashboard import time_input
from dashboard.uploads.services import ImportFailure, ImportOutcome, metrics_import

SHOWN_ERRORS = 20


class ProgressBar:
    """A text bar redrawn in place on one line of *stream*; pass it as the import service's ``progress`` callback."""

    WIDTH = 30

    def __init__(self, stream: OutputWrapper):
        self.stream = stream
        self.drawn = False

    def __call__(self, rows_done: int, bytes_done: int, bytes_total: int) -> None:
        fraction = min(bytes_done / bytes_total, 1.0) if bytes_total else 1.0
        filled = round(self.WIDTH * fraction)
        line = (
            f"\r[{'#' * filled}{'-' * (self.WIDTH - filled)}] {fraction:4.0%}  "
            f"{bytes_done / 1e6:,.1f}/{bytes_total / 1e6:,.1f} MB  {rows_done:,} rows"
        )
        # The plain style: stderr's default style would paint the bar as an error.
        self.stream.write(line, style_func=str, ending="")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("", style_func=str)


class Command(BaseCommand):
    help = (
        "Import a metrics CSV (columns name, value, timestamp) for a user, inline and all or nothing: "
        "the same checks, Upload record and history as an upload through the API."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file.")
        parser.add_argument("--owner", required=True, help="Email of the user who will own the metrics.")
        parser.add_argument("--tz", help="Time zone of timestamps without an offset (default: the TIME_ZONE setting).")
        parser.add_argument(
            "--allow-duplicate",
            action="store_true",
            help="Import even if the owner already has this same file pending, processing or imported.",
        )
        parser.add_argument(
            "--progress", action="store_true", help="Show the progress bar even when stderr is not a terminal."
        )

    def handle(self, *args, file: str, owner: str, tz: str | None, allow_duplicate: bool, progress: bool, **options):
        owner_user = self._owner(owner)
        zone = self._zone(tz or settings.TIME_ZONE)
        try:
            # Opened outside the with so that only a failure to open becomes "Cannot read".
            handle = open(file, "rb")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        # Always inline: the operator waits for the outcome, so the CLI never hands the file to a queue.
        bar = ProgressBar(self.stderr) if progress or self.stderr.isatty() else None
        with handle:
            try:
                outcome = metrics_import(
                    file=File(handle, name=os.path.basename(file)),
                    owner=owner_user,
                    tz=zone,
                    allow_duplicate=allow_duplicate,
                    progress=bar,
                    inline=True,
                )
            except DomainError as error:  # too large, unreadable or unsupported: nothing was recorded
                raise CommandError(f"{file}: {error.message}") from None
            finally:
                if bar is not None:
                    bar.close()

        if outcome.failure is ImportFailure.DUPLICATE:
            earlier = outcome.duplicate_of
            assert earlier is not None, "a duplicate names the earlier upload"
            raise CommandError(
                f"{owner_user.email} already has this file as upload {earlier.pk} ({earlier.status}); "
                "pass --allow-duplicate to import it again."
            )
        upload = outcome.upload
        assert upload is not None, "only a duplicate records no upload"
        if outcome.failure is not None:
            self._report_errors(outcome)
            raise CommandError(
                f"Upload {upload.pk} failed with {outcome.error_count:,} error(s); nothing was imported."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Imported {upload.rows_imported:,} rows from {upload.filename} (upload {upload.pk}).")
        )

    def _owner(self, email: str) -> User:
        try:
            return User.objects.get_by_natural_key(email.strip())
        except User.DoesNotExist:
            raise CommandError(f"No user with the email {email!r}.") from None

    def _zone(self, name: str) -> ZoneInfo:
        try:
            return time_input.time_zone(name)
        except ValueError as error:
            raise CommandError(str(error)) from None

    def _report_errors(self, outcome: ImportOutcome) -> None:
        for error in outcome.errors[:SHOWN_ERRORS]:
            where = [f"row {error['row']}"] if error.get("row") is not None else []
            if error.get("column"):
                where.append(f"column {error['column']}")
            self.stderr.write(f"{', '.join(where)}: {error['message']}" if where else error["message"])
        if outcome.error_count > SHOWN_ERRORS:
            self.stderr.write(f"... and {outcome.error_count - SHOWN_ERRORS:,} more ({outcome.error_count:,} in all).")
