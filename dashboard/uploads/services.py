"""The metric import service: one path for the API, the admin, the CLI and the Celery worker.

An import records its Upload first (committed, so its status is visible while it runs), imports every row in one
transaction (PostgreSQL: streamed straight into ``COPY``; elsewhere: batched inserts), then finalises the record.
Any bad row fails the whole file and nothing is imported.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol, cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.backends.utils import CursorWrapper
from django.db.models.sql import UpdateQuery
from django.db.models.sql.constants import NO_RESULTS
from django.utils import timezone

from accounts.models import User
from dashboard.alerts.evaluation import alerts_metrics_touched
from dashboard.exceptions import DuplicateUpload, InvalidFile, UnsupportedUploadFormat, UploadBusy, UploadTooLarge
from dashboard.metrics.models import Metric
from dashboard.rollup.write import ImportCells
from dashboard.uploads.csv_reader import FileUnreadable, RowErrors, UnsupportedFormat, inspect_file, iter_rows
from dashboard.uploads.models import Upload, upload_file_path

logger = logging.getLogger("dashboard.uploads")

HASH_CHUNK = 1024 * 1024
SQLITE_BATCH = 5000
PROGRESS_EVERY_ROWS = 50_000
# When the import's connection died (the database restarted), how long the final status is retried on a fresh one
# while the database comes back; after that, uploads_settle (beat, worker start, cron) settles it.
FINISH_RETRY_SECONDS = 30
INTERRUPTED_MESSAGE = "The import failed unexpectedly; nothing was imported."
ACTIVE_STATUSES = (Upload.Status.PENDING, Upload.Status.PROCESSING, Upload.Status.SUCCEEDED)
Progress = Callable[[int, int, int], None]
# A valid row of the file: (name, value, aware timestamp).
Row = tuple[str, float, datetime]


class _RowsRejected(Exception):
    """Raised inside the import transaction to roll it back when any row is bad."""

    def __init__(self, rows_total: int):
        super().__init__(rows_total)
        self.rows_total = rows_total


class ImportFailure(StrEnum):
    """Why an import did not import (the contract's codes)."""

    ROWS = "invalid_rows"  # some rows are bad: the failed Upload lists them
    FILE = "invalid_file"  # the stored file turned out unreadable as it was imported
    DUPLICATE = "duplicate_upload"  # refused before recording: the owner has this file already


@dataclass(frozen=True)
class ImportOutcome:
    """What became of an import, read alike by the API, the admin and the CLI.

    ``upload`` is the Upload recorded (None when refused as a duplicate, then ``duplicate_of`` is the earlier one);
    ``queued`` when a worker will import it; ``failure`` says why nothing was imported.
    """

    upload: Upload | None
    queued: bool = False
    failure: ImportFailure | None = None
    duplicate_of: Upload | None = None

    @property
    def status(self) -> str | None:
        return self.upload.status if self.upload is not None else None

    @property
    def errors(self) -> list[dict]:
        return self.upload.errors if self.upload is not None else []

    @property
    def error_count(self) -> int:
        return self.upload.error_count if self.upload is not None else 0

    @property
    def message(self) -> str:
        """One sentence for people about a failure ("" without one)."""
        if self.failure is ImportFailure.DUPLICATE:
            return DuplicateUpload.message
        if self.failure is ImportFailure.ROWS:
            return "Some rows are invalid; nothing was imported."
        if self.failure is ImportFailure.FILE:
            return self.errors[0]["message"] if self.errors else InvalidFile.message
        return ""

    @classmethod
    def of(cls, upload: Upload, *, queued: bool = False) -> ImportOutcome:
        """The outcome recorded on *upload*: a failed import lists row errors (each with its row number) when rows
        were bad, or one error without a row when the file itself could not be read."""
        failure = None
        if upload.status == Upload.Status.FAILED:
            rows = any(error.get("row") is not None for error in upload.errors)
            failure = ImportFailure.ROWS if rows else ImportFailure.FILE
        return cls(upload=upload, queued=queued, failure=failure)


class UploadQueue(Protocol):
    """Where queued imports go (``DashboardConfig.ready`` registers the Celery one; services never import tasks)."""

    def process(self, *, upload_id: int) -> None: ...


_queue: UploadQueue | None = None


def uploads_queue_register(queue: UploadQueue | None) -> None:
    global _queue
    _queue = queue


def _uploads_queue() -> UploadQueue | None:
    """The registered queue when a broker is configured, else None (imports run inline)."""
    return _queue if settings.CELERY_BROKER_URL else None


def _digest(file: File) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    file.seek(0)
    for chunk in file.chunks(HASH_CHUNK):
        sha.update(chunk)
        size += len(chunk)
    file.seek(0)
    return sha.hexdigest(), size


def upload_create(*, file: File, owner: User, tz: ZoneInfo, allow_duplicate: bool = False) -> Upload:
    """Check the file, store it and record a pending Upload (committed). Raises UploadTooLarge, InvalidFile,
    UnsupportedUploadFormat or DuplicateUpload, and records nothing then."""
    sha256, size = _digest(file)
    if size > settings.UPLOAD_MAX_BYTES:
        raise UploadTooLarge(
            f"The file is larger than the upload limit of {settings.UPLOAD_MAX_BYTES:,} bytes (UPLOAD_MAX_BYTES)."
        )
    try:
        inspect_file(file)
    except UnsupportedFormat as exc:
        raise UnsupportedUploadFormat(str(exc)) from None
    except FileUnreadable as exc:
        raise InvalidFile(str(exc)) from None
    if not allow_duplicate:
        existing = Upload.objects.filter(created_by=owner, sha256=sha256, status__in=ACTIVE_STATUSES).first()
        if existing is not None:
            raise DuplicateUpload(existing)
    filename = os.path.basename(getattr(file, "name", "") or "upload.csv")[:255] or "upload.csv"
    stored = default_storage.save(upload_file_path(), file)
    return Upload.objects.create(file=stored, filename=filename, size=size, sha256=sha256, tz=str(tz), created_by=owner)


def metrics_import(
    *,
    file: File,
    owner: User,
    tz: ZoneInfo,
    allow_duplicate: bool = False,
    progress: Progress | None = None,
    inline: bool = False,
) -> ImportOutcome:
    """Record and import *file*: queued to a worker when a broker is configured and the file is big (unless
    *inline*, as the CLI wants), else now. A file refused before recording raises a DomainError (UploadTooLarge,
    InvalidFile, UnsupportedUploadFormat); a duplicate is an outcome, as is a failed import."""
    try:
        upload = upload_create(file=file, owner=owner, tz=tz, allow_duplicate=allow_duplicate)
    except DuplicateUpload as duplicate:
        return ImportOutcome(upload=None, failure=ImportFailure.DUPLICATE, duplicate_of=duplicate.existing)
    queue = None if inline else _uploads_queue()
    if queue is not None and upload.size >= settings.UPLOAD_ASYNC_MIN_BYTES:
        transaction.on_commit(lambda: queue.process(upload_id=upload.pk))
        return ImportOutcome.of(upload, queued=True)
    return ImportOutcome.of(upload_process(upload_id=upload.pk, progress=progress))


def _file_to_discard(upload: Upload, fields: dict) -> str | None:
    """For a final status of ``failed``: the stored file's name, and ``file`` cleared in *fields*. A failed import
    keeps its record and errors, not its file (it may be tens of MB); the caller deletes it once the status is
    committed."""
    if fields.get("status") != Upload.Status.FAILED or not upload.file.name:
        return None
    fields["file"] = ""
    return upload.file.name


def _finish(upload: Upload, **fields) -> Upload:
    fields["finished_at"] = timezone.now()
    if (discard := _file_to_discard(upload, fields)) is not None:
        transaction.on_commit(lambda: default_storage.delete(discard))
    Upload.objects.filter(pk=upload.pk).update(**fields)
    for name, value in fields.items():
        setattr(upload, name, value)
    return upload


def _connection_usable() -> bool:
    try:
        return connection.is_usable()
    except DatabaseError:
        return False


def _finish_on_fresh_connection(upload: Upload, **fields) -> Upload:
    """Finalise a still-``processing`` upload through a new connection of its own, retried for FINISH_RETRY_SECONDS
    while the database restarts. The import's own connection is dead (and may still be inside a broken transaction),
    so it cannot be used, nor closed and reopened under a caller's atomic block."""
    fields["finished_at"] = timezone.now()
    discard = _file_to_discard(upload, fields)
    deadline = time.monotonic() + FINISH_RETRY_SECONDS
    delay = 0.2
    while True:
        fresh = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            processing = Upload.objects.filter(pk=upload.pk, status=Upload.Status.PROCESSING)
            query = cast(UpdateQuery, processing.query.chain(UpdateQuery))  # the stubs say chain() gives a Query
            query.add_update_values(fields)
            query.get_compiler(connection=fresh).execute_sql(NO_RESULTS)
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + delay > deadline:
                logger.warning("upload %s left processing: the database is still unreachable (%s)", upload.pk, exc)
                return upload
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        finally:
            fresh.close()
        if discard is not None:
            default_storage.delete(discard)
        for name, value in fields.items():
            setattr(upload, name, value)
        return upload


def upload_process(*, upload_id: int, progress: Progress | None = None) -> Upload:
    """Import the stored file of an Upload, all or nothing, and finalise the record. Safe to run again after a crash
    (the interrupted transaction left nothing behind), and twice at once (a task redelivered while its first worker
    still runs): the second run waits for the Upload's row lock, then finds it finished and does nothing."""
    claimed = Upload.objects.filter(pk=upload_id, status__in=(Upload.Status.PENDING, Upload.Status.PROCESSING)).update(
        status=Upload.Status.PROCESSING, started_at=timezone.now()
    )
    upload = Upload.objects.get(pk=upload_id)
    if not claimed:
        return upload
    errors = RowErrors()
    try:
        with transaction.atomic():
            # Locked until the rows and the final status commit together.
            if not Upload.objects.select_for_update().filter(pk=upload_id, status=Upload.Status.PROCESSING).exists():
                return Upload.objects.get(pk=upload_id)
            try:
                with transaction.atomic():
                    total, imported = _import_rows(upload, errors, progress)
                    if errors.count:
                        raise _RowsRejected(total)
            except _RowsRejected as rejected:
                return _finish(
                    upload,
                    status=Upload.Status.FAILED,
                    rows_total=rejected.rows_total,
                    rows_imported=0,
                    errors=errors.items,
                    error_count=errors.count,
                )
            except FileUnreadable as exc:
                return _finish(
                    upload,
                    status=Upload.Status.FAILED,
                    errors=[{"row": None, "column": None, "message": str(exc)}],
                    error_count=1,
                )
            alerts_metrics_touched(names=None)
            return _finish(
                upload,
                status=Upload.Status.SUCCEEDED,
                rows_total=total,
                rows_imported=imported,
                errors=[],
                error_count=0,
            )
    except Exception as exc:
        failed = {
            "status": Upload.Status.FAILED,
            "errors": [{"row": None, "column": None, "message": INTERRUPTED_MESSAGE}],
            "error_count": 1,
        }
        if _connection_usable():
            logger.exception("import of upload %s failed", upload.pk)
            _finish(upload, **failed)
        else:
            # The database went away under the import (a restart): one line, not a traceback; the rows were rolled
            # back with the transaction, and the status goes in on a fresh connection.
            logger.warning("import of upload %s interrupted: the database connection was lost (%s)", upload.pk, exc)
            _finish_on_fresh_connection(upload, **failed)
        raise


def _import_rows(upload: Upload, errors: RowErrors, progress: Progress | None) -> tuple[int, int]:
    """Stream the file's valid rows into the metrics table inside the caller's transaction; returns (total, imported).

    Once a bad row is seen nothing more is written (the transaction will be rolled back), but validation goes on so
    that every error is counted.
    """
    tz = UTC if upload.tz == "UTC" else ZoneInfo(upload.tz)
    name = upload.file.name
    assert name is not None  # a FileField's name is text ("" once cleared), never None
    with default_storage.open(name, "rb") as binary:
        layout = inspect_file(binary)
        size = upload.size
        rows = iter_rows(binary, layout, tz=tz, errors=errors)
        if progress is not None:
            rows = _reporting(rows, progress, binary, size)
        if connection.vendor == "postgresql":
            return _copy_rows(rows, upload, errors)
        return _insert_rows(rows, upload, errors)


def _reporting(rows: Iterable, progress: Progress, binary, size: int):
    count = 0
    for row in rows:
        count += 1
        if count % PROGRESS_EVERY_ROWS == 0:
            progress(count, binary.tell(), size)
        yield row
    progress(count, size, size)


COPY_SQL = "COPY dashboard_metric (name, value, timestamp, owner_id, upload_id) FROM STDIN (FORMAT BINARY)"
ID_SEQUENCE_SQL = "pg_get_serial_sequence('dashboard_metric', 'id')"


def _copy_rows(rows: Iterable[Row], upload: Upload, errors: RowErrors) -> tuple[int, int]:
    """COPY the rows, folding them into the upload's rollup cells as they stream (:class:`ImportCells`), then write
    the cells. The ids COPY assigns follow the rows' order; the sequence is read before and after, so the cells know
    whether row *k* has id ``before + k``. When the cells fill memory the COPY pauses for a spill, then goes on."""
    rows = iter(rows)
    total = 0
    cells = ImportCells(owner_id=upload.created_by_id, source=upload.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT nextval({ID_SEQUENCE_SQL})")
        (before,) = cursor.fetchone()
        full = True
        while full:
            full, total = _copy_until_full(cursor, rows, upload, errors, cells, total)
            if full:
                cells.spill(cursor)
        cursor.execute(f"SELECT currval({ID_SEQUENCE_SQL})")
        (after,) = cursor.fetchone()
        cells.write(cursor, first_id=before, contiguous=after - before == total)
    return total, total


def _copy_until_full(
    cursor: CursorWrapper, rows: Iterator[Row], upload: Upload, errors: RowErrors, cells: ImportCells, total: int
) -> tuple[bool, int]:
    """One COPY of *rows* until they run out (``False``) or *cells* fill memory (``True``), with the count of rows
    read so far (*total* before). A row error aborts the COPY, and the surrounding transaction, at the end of the
    file (every error is reported)."""
    owner_id, upload_id = upload.created_by_id, upload.pk
    add = cells.add
    with cursor.cursor.copy(COPY_SQL) as copy:
        copy.set_types(["text", "float8", "timestamptz", "int8", "int8"])
        write_row = copy.write_row
        for name, value, timestamp in rows:
            total += 1
            if errors.count:
                continue
            write_row((name, value, timestamp, owner_id, upload_id))
            if add(name, value, timestamp, total):
                return True, total
        if errors.count:
            raise _RowsRejected(total + errors.count)
    return False, total


def _insert_rows(rows: Iterable[Row], upload: Upload, errors: RowErrors) -> tuple[int, int]:
    total = 0
    batch: list[Metric] = []
    owner_id, upload_id = upload.created_by_id, upload.pk
    for name, value, timestamp in rows:
        total += 1
        if errors.count:
            batch.clear()
            continue
        batch.append(Metric(name=name, value=value, timestamp=timestamp, owner_id=owner_id, upload_id=upload_id))
        if len(batch) >= SQLITE_BATCH:
            Metric.objects.bulk_create(batch)
            batch.clear()
    if batch and not errors.count:
        Metric.objects.bulk_create(batch)
    return total + errors.count, total


def upload_delete(*, upload: Upload) -> int:
    """Remove an upload and exactly the metrics it imported, atomically; returns how many metrics went."""
    with transaction.atomic():
        # Locked and read again: an import holds this lock until its rows commit, so they are all seen and deleted.
        upload = Upload.objects.select_for_update().filter(pk=upload.pk).first() or upload
        if upload.status in (Upload.Status.PENDING, Upload.Status.PROCESSING):
            raise UploadBusy()
        name = upload.file.name
        # Cascades to its metrics; its rollup cells go with it (dashboard.uploads.signals), nothing to recompute.
        _, counts = upload.delete()
        deleted = counts.get(Metric._meta.label, 0)
        if name:
            transaction.on_commit(lambda: default_storage.delete(name))
        alerts_metrics_touched(names=None)
    return deleted


def uploads_settle(*, stale_after: timedelta | None = None) -> int:
    """Mark uploads stuck in ``processing`` for longer than *stale_after* (default ``settings.UPLOAD_STALE_AFTER``) as
    failed: their worker died and its transaction left nothing behind. An import still running holds its Upload's
    row lock, so it is skipped however long it has taken."""
    cutoff = timezone.now() - (settings.UPLOAD_STALE_AFTER if stale_after is None else stale_after)
    with transaction.atomic():
        stale = list(
            Upload.objects.select_for_update(skip_locked=True)
            .filter(status=Upload.Status.PROCESSING, started_at__lt=cutoff)
            .values_list("pk", flat=True)
        )
        files = [name for name in Upload.objects.filter(pk__in=stale).values_list("file", flat=True) if name]
        settled = Upload.objects.filter(pk__in=stale).update(
            status=Upload.Status.FAILED,
            finished_at=timezone.now(),
            file="",
            errors=[{"row": None, "column": None, "message": "The import was interrupted; nothing was imported."}],
            error_count=1,
        )

        # Failed uploads keep their record, not their file.
        def delete_files() -> None:
            for name in files:
                default_storage.delete(name)

        transaction.on_commit(delete_files)
        return settled


def upload_files_purge(*, older_than: timedelta) -> int:
    """Delete stored files of uploads older than *older_than* (the records stay in the history)."""
    cutoff = timezone.now() - older_than
    purged = 0
    for upload in (
        Upload.objects.filter(created_at__lt=cutoff)
        .exclude(file="")
        .exclude(status__in=(Upload.Status.PENDING, Upload.Status.PROCESSING))
    ):
        name = upload.file.name
        assert name is not None  # not "" (excluded above), and never None
        default_storage.delete(name)
        Upload.objects.filter(pk=upload.pk).update(file="")
        purged += 1
    return purged
