"""Concurrent imports on PostgreSQL: each COPYs into the live table in its own transaction, invisible to the others
until it commits, and neither breaks the other."""

import threading
from zoneinfo import ZoneInfo

import pytest
from django.core.files import File
from django.db import connection, connections

from accounts.tests.factories import UserFactory
from dashboard.metrics.models import Metric
from dashboard.uploads.models import Upload
from dashboard.uploads.services import upload_create, upload_delete, upload_process
from dashboard.uploads.tests.test_worker import write_csv

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROWS = 60_000


def _created(path, owner) -> Upload:
    with path.open("rb") as handle:
        return upload_create(file=File(handle, name=path.name), owner=owner, tz=ZoneInfo("UTC"))


def test_two_imports_at_once_neither_sees_nor_breaks_the_other(tmp_path, monkeypatch):
    # Report progress early, so the first import can be held mid-COPY.
    monkeypatch.setattr("dashboard.uploads.services.PROGRESS_EVERY_ROWS", 10_000)
    owner = UserFactory()
    first = _created(write_csv(tmp_path / "a.csv", ROWS), owner)
    second = _created(write_csv(tmp_path / "b.csv", ROWS // 2), owner)
    seen_mid_import: list[int] = []
    first_copying, release_first = threading.Event(), threading.Event()

    def progress(rows, _done, _total):
        if not first_copying.is_set():
            first_copying.set()
            release_first.wait(timeout=30)

    def run(upload_id, **kwargs):
        try:
            upload_process(upload_id=upload_id, **kwargs)
        finally:
            connections.close_all()

    try:
        worker = threading.Thread(target=run, args=(first.pk,), kwargs={"progress": progress})
        worker.start()
        assert first_copying.wait(timeout=30)
        # The first import is mid-COPY and holds its transaction open: the second one runs to the end meanwhile.
        run(second.pk)
        connection.close()
        seen_mid_import.append(Metric.objects.filter(upload_id=first.pk).count())
        release_first.set()
        worker.join(timeout=60)
    finally:
        release_first.set()

    assert seen_mid_import == [0]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.rows_imported) == ("succeeded", ROWS)
    assert (second.status, second.rows_imported) == ("succeeded", ROWS // 2)
    assert Metric.objects.filter(upload_id=first.pk).count() == ROWS
    assert Metric.objects.filter(upload_id=second.pk).count() == ROWS // 2


def test_deleting_an_upload_during_its_import_waits_for_it_and_leaves_no_row_behind(tmp_path, monkeypatch):
    """metrics.upload_id has no database constraint (an import's speed), so upload_delete must not run beside the
    import: it takes the Upload's lock, which the import holds until its rows commit, and then deletes them all."""
    monkeypatch.setattr("dashboard.uploads.services.PROGRESS_EVERY_ROWS", 10_000)
    upload = _created(write_csv(tmp_path / "a.csv", ROWS), UserFactory())
    # What a page loaded a moment earlier could hold: a status that no longer says the import is running.
    stale = Upload.objects.get(pk=upload.pk)
    stale.status = Upload.Status.SUCCEEDED
    copying, release = threading.Event(), threading.Event()
    deleted: list[int] = []

    def progress(rows, _done, _total):
        if not copying.is_set():
            copying.set()
            release.wait(timeout=30)

    def run(target, **kwargs):
        try:
            target(**kwargs)
        finally:
            connections.close_all()

    importer = threading.Thread(
        target=run, args=(upload_process,), kwargs={"upload_id": upload.pk, "progress": progress}
    )
    deleter = threading.Thread(target=run, args=(lambda: deleted.append(upload_delete(upload=stale)),))
    try:
        importer.start()
        assert copying.wait(timeout=30)
        deleter.start()
        deleter.join(timeout=1)
        assert deleter.is_alive()  # waiting for the import's lock
        release.set()
        importer.join(timeout=60)
        deleter.join(timeout=60)
    finally:
        release.set()
    connection.close()
    assert deleted == [ROWS]
    assert not Upload.objects.filter(pk=upload.pk).exists()
    assert not Metric.objects.filter(upload_id=upload.pk).exists()
