"""The management commands: import_metrics, uploads_settle and uploads_purge_files."""

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from accounts.tests.factories import UserFactory
from dashboard.metrics.models import Metric
from dashboard.tests.factories import MetricFactory, UploadFactory
from dashboard.uploads.models import Upload

pytestmark = pytest.mark.django_db

GOOD_CSV = b"name,value,timestamp\nvisits,3,2026-01-01\nvisits,4.5,2026-01-02T12:00:00+02:00\n"


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def owner():
    return UserFactory(email="owner@example.com")


def run(*args, stderr=None, **options) -> tuple[str, str]:
    """Run a command; return what it wrote to stdout and stderr."""
    stdout, stderr = io.StringIO(), stderr if stderr is not None else io.StringIO()
    call_command(*args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


def write(tmp_path: Path, content: bytes, name: str = "metrics.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def rows_csv(count: int, *, bad_every: int = 0) -> bytes:
    lines = ["name,value,timestamp"]
    lines += [f"m,{'bad' if bad_every and i % bad_every == 0 else i},2026-01-01" for i in range(1, count + 1)]
    return ("\n".join(lines) + "\n").encode()


# --- import_metrics ---------------------------------------------------------------------------------------------


def test_import_metrics_imports_inline_even_with_a_broker(owner, tmp_path, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.UPLOAD_ASYNC_MIN_BYTES = 1
    out, err = run("import_metrics", str(write(tmp_path, GOOD_CSV)), owner="OWNER@Example.com")

    upload = Upload.objects.get()
    assert out == f"Imported 2 rows from metrics.csv (upload {upload.pk}).\n"
    assert err == ""
    assert (upload.status, upload.rows_imported, upload.created_by, upload.filename) == (
        "succeeded",
        2,
        owner,
        "metrics.csv",
    )
    assert sorted(Metric.objects.values_list("value", "timestamp", "owner", "upload")) == [
        (3.0, datetime(2026, 1, 1, tzinfo=UTC), owner.pk, upload.pk),
        (4.5, datetime(2026, 1, 2, 10, tzinfo=UTC), owner.pk, upload.pk),
    ]


def test_import_metrics_reads_naive_timestamps_in_tz(owner, tmp_path, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    content = b"name,value,timestamp\nx,1,2026-07-01T12:00:00\n"
    run("import_metrics", str(write(tmp_path, content, "a.csv")), owner=owner.email, tz="Europe/Berlin")
    run("import_metrics", str(write(tmp_path, content, "b.csv")), owner=owner.email, allow_duplicate=True)
    assert dict(Upload.objects.values_list("filename", "tz")) == {"a.csv": "Europe/Berlin", "b.csv": "Asia/Tokyo"}
    assert sorted(Metric.objects.values_list("timestamp", flat=True)) == [
        datetime(2026, 7, 1, 3, tzinfo=UTC),
        datetime(2026, 7, 1, 10, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("owner_email", "options", "file", "message"),
    [
        ("nobody@example.com", {}, "metrics.csv", "No user with the email 'nobody@example.com'."),
        ("owner@example.com", {"tz": "Moon/Base"}, "metrics.csv", "Unknown time zone 'Moon/Base'"),
        ("owner@example.com", {}, "missing.csv", "missing.csv: No such file or directory."),
        ("owner@example.com", {}, ".", "Is a directory."),
    ],
)
def test_import_metrics_refuses_bad_arguments(owner, tmp_path, owner_email, options, file, message):
    write(tmp_path, GOOD_CSV)
    with pytest.raises(CommandError) as excinfo:
        run("import_metrics", str(tmp_path / file), owner=owner_email, **options)
    assert message in str(excinfo.value)
    assert not Upload.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,value,timestamp\n", "The file has a header row but no data rows."),
        (b"\x00\x01\x02binary", "The file is binary, not CSV text."),
        (b"PK\x03\x04rest-of-a-workbook", "This is a zip file (an .xlsx workbook?); upload CSV text instead."),
        (b"when,what\n2026-01-01,1\n", "No usable header row"),
    ],
)
def test_import_metrics_refuses_an_invalid_file(owner, tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(CommandError) as excinfo:
        run("import_metrics", str(path), owner=owner.email)
    assert str(excinfo.value).startswith(f"{path}: {message}")
    assert not Upload.objects.exists()


def test_import_metrics_refuses_a_file_over_the_limit(owner, tmp_path, settings):
    settings.UPLOAD_MAX_BYTES = 10
    path = write(tmp_path, GOOD_CSV)
    with pytest.raises(CommandError) as excinfo:
        run("import_metrics", str(path), owner=owner.email)
    assert str(excinfo.value) == f"{path}: The file is larger than the upload limit of 10 bytes (UPLOAD_MAX_BYTES)."
    assert not Upload.objects.exists()


def test_import_metrics_refuses_a_duplicate_unless_allowed(owner, tmp_path):
    path = str(write(tmp_path, GOOD_CSV))
    run("import_metrics", path, owner=owner.email)
    first = Upload.objects.get()
    with pytest.raises(CommandError) as excinfo:
        run("import_metrics", path, owner=owner.email)
    assert str(excinfo.value) == (
        f"owner@example.com already has this file as upload {first.pk} (succeeded); "
        "pass --allow-duplicate to import it again."
    )
    run("import_metrics", path, owner=owner.email, allow_duplicate=True)
    assert Metric.objects.count() == 4


def test_import_metrics_reports_the_first_20_row_errors_and_the_total(owner, tmp_path):
    path = write(tmp_path, rows_csv(90, bad_every=3))
    stderr = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        run("import_metrics", str(path), owner=owner.email, stderr=stderr)

    upload = Upload.objects.get()
    assert str(excinfo.value) == f"Upload {upload.pk} failed with 30 error(s); nothing was imported."
    assert excinfo.value.returncode == 1
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 21
    assert lines[0] == "row 4, column value: Not a finite number: 'bad'."
    assert lines[19] == "row 61, column value: Not a finite number: 'bad'."
    assert lines[20] == "... and 10 more (30 in all)."
    assert (upload.status, upload.error_count, upload.rows_imported) == ("failed", 30, 0)
    assert not Metric.objects.exists()


def test_import_metrics_reports_a_file_that_turns_unreadable(owner, tmp_path):
    # Past the first 64 KB, which are checked before the Upload is recorded.
    path = write(tmp_path, rows_csv(5000) + b"late,1,2026-01-03\xff\n")
    stderr = io.StringIO()
    with pytest.raises(CommandError, match="failed with 1 error"):
        run("import_metrics", str(path), owner=owner.email, stderr=stderr)
    assert stderr.getvalue().startswith("The file is not UTF-8 text (undecodable bytes near row ")
    assert Upload.objects.get().status == "failed"
    assert not Metric.objects.exists()


@pytest.fixture
def progress_every_10_rows(monkeypatch):
    # The service reports every 50,000 rows; a smaller step keeps the file, and the test, small.
    monkeypatch.setattr("dashboard.uploads.services.PROGRESS_EVERY_ROWS", 10)


def test_import_metrics_draws_a_progress_bar_on_request(owner, tmp_path, progress_every_10_rows):
    content = rows_csv(25)
    out, err = run("import_metrics", str(write(tmp_path, content)), owner=owner.email, progress=True)

    frames = err.split("\r")[1:]
    assert [frame.rsplit("  ", 1)[1].strip() for frame in frames] == ["10 rows", "20 rows", "25 rows"]
    assert frames[-1] == f"[{'#' * 30}] 100%  0.0/0.0 MB  25 rows\n"
    assert all(frame.startswith("[") and frame.count("#") + frame.count("-") >= 30 for frame in frames)
    assert out.startswith("Imported 25 rows")


def test_import_metrics_draws_the_bar_on_a_terminal_only(owner, tmp_path, progress_every_10_rows):
    _, plain = run("import_metrics", str(write(tmp_path, rows_csv(25), "a.csv")), owner=owner.email)
    assert plain == ""
    terminal = TerminalStream()
    run("import_metrics", str(write(tmp_path, rows_csv(26), "b.csv")), owner=owner.email, stderr=terminal)
    assert terminal.getvalue().endswith("100%  0.0/0.0 MB  26 rows\n")


# --- uploads_settle ---------------------------------------------------------------------------------------------


def test_uploads_settle_fails_only_stale_processing_uploads(owner):
    hours = timedelta(hours=2)
    stale = UploadFactory(created_by=owner, status="processing", age=hours, started=hours)
    fresh = UploadFactory(created_by=owner, status="processing", age=hours, started=timedelta(minutes=10))
    pending = UploadFactory(created_by=owner, status="pending", age=hours)
    done = UploadFactory(created_by=owner, status="succeeded", age=hours, started=hours)

    out, _ = run("uploads_settle")  # default: settings.UPLOAD_STALE_AFTER, the visibility timeout (1 h) + 10 min
    assert out == "Marked 1 upload(s) processing for more than 70 minute(s) as failed.\n"
    statuses = dict(Upload.objects.values_list("pk", "status"))
    assert statuses == {stale.pk: "failed", fresh.pk: "processing", pending.pk: "pending", done.pk: "succeeded"}
    stale.refresh_from_db()
    assert stale.errors == [
        {"row": None, "column": None, "message": "The import was interrupted; nothing was imported."}
    ]
    assert stale.finished_at is not None

    out, _ = run("uploads_settle", "--stale-minutes", "5")
    assert out == "Marked 1 upload(s) processing for more than 5 minute(s) as failed.\n"
    assert Upload.objects.get(pk=fresh.pk).status == "failed"


def test_celery_beat_settles_stale_uploads(owner, settings):
    from dashboard.uploads.tasks import uploads_settle_task

    entry = settings.CELERY_BEAT_SCHEDULE["uploads-settle"]
    assert (entry["task"], entry["schedule"]) == (uploads_settle_task.name, 600.0)
    # The threshold stays above the broker's visibility timeout, so a redelivered task re-imports first.
    visibility = timedelta(seconds=settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"])
    assert visibility < settings.UPLOAD_STALE_AFTER
    stale = UploadFactory(created_by=owner, status="processing", age=timedelta(hours=3), started=timedelta(hours=3))
    fresh = UploadFactory(created_by=owner, status="processing", age=timedelta(hours=3), started=timedelta(minutes=1))
    assert uploads_settle_task() == 1
    assert dict(Upload.objects.values_list("pk", "status")) == {stale.pk: "failed", fresh.pk: "processing"}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_uploads_settle_skips_an_import_that_still_holds_its_lock(owner):
    running = UploadFactory(created_by=owner, status="processing", age=timedelta(hours=3), started=timedelta(hours=3))
    importer = connections.create_connection(DEFAULT_DB_ALIAS)  # stands for a long import's transaction
    try:
        importer.set_autocommit(False)
        with importer.cursor() as cursor:
            cursor.execute("SELECT id FROM dashboard_upload WHERE id = %s FOR UPDATE", [running.pk])
        assert run("uploads_settle")[0].startswith("Marked 0 upload(s)")
        importer.rollback()
    finally:
        importer.close()
    assert run("uploads_settle")[0].startswith("Marked 1 upload(s)")
    assert Upload.objects.get(pk=running.pk).status == "failed"


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_uploads_settle_needs_a_positive_number_of_minutes(value):
    with pytest.raises(CommandError, match="--stale-minutes"):
        run("uploads_settle", "--stale-minutes", value)


# --- uploads_purge_files ----------------------------------------------------------------------------------------


def stored_name(upload: Upload) -> str:
    """The name of *upload*'s file in storage (``UploadFactory(stored=True)`` gives it one)."""
    assert upload.file.name is not None
    return upload.file.name


def test_uploads_purge_files_deletes_only_old_finished_files_and_keeps_the_records(owner, settings):
    settings.UPLOAD_RETENTION_DAYS = 30
    old = timedelta(days=40)
    old_done = UploadFactory(created_by=owner, status="succeeded", age=old, stored=True)
    old_failed = UploadFactory(created_by=owner, status="failed", age=old, stored=True)
    old_busy = UploadFactory(created_by=owner, status="processing", age=old, started=old, stored=True)
    recent = UploadFactory(created_by=owner, status="succeeded", age=timedelta(days=1), stored=True)
    imported = MetricFactory(owner=owner, upload=old_done)
    old_names = {stored_name(old_done), stored_name(old_failed)}

    out, _ = run("uploads_purge_files")
    assert out == "Deleted the stored files of 2 upload(s) older than 30 day(s); their records stay.\n"
    assert not any(default_storage.exists(name) for name in old_names)
    assert all(default_storage.exists(stored_name(upload)) for upload in (old_busy, recent))
    assert dict(Upload.objects.values_list("pk", "file")) == {
        old_done.pk: "",
        old_failed.pk: "",
        old_busy.pk: old_busy.file.name,
        recent.pk: recent.file.name,
    }
    assert Metric.objects.get().pk == imported.pk

    out, _ = run("uploads_purge_files", "--days", "0")
    assert out == "Deleted the stored files of 1 upload(s) older than 0 day(s); their records stay.\n"
    assert not default_storage.exists(stored_name(recent))
    assert default_storage.exists(stored_name(old_busy))
    assert Upload.objects.count() == 4


def test_uploads_purge_files_defaults_to_the_retention_setting(owner, settings):
    settings.UPLOAD_RETENTION_DAYS = 7
    week_old = UploadFactory(created_by=owner, status="succeeded", age=timedelta(days=8), stored=True)
    day_old = UploadFactory(created_by=owner, status="succeeded", age=timedelta(days=1), stored=True)
    out, _ = run("uploads_purge_files")
    assert out == "Deleted the stored files of 1 upload(s) older than 7 day(s); their records stay.\n"
    assert not default_storage.exists(stored_name(week_old))
    assert default_storage.exists(stored_name(day_old))


@pytest.mark.parametrize("value", ["-1", "a week"])
def test_uploads_purge_files_needs_a_whole_number_of_days(value):
    with pytest.raises(CommandError, match="--days"):
        run("uploads_purge_files", "--days", value)
