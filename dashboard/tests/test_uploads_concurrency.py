"""Concurrent imports on PostgreSQL: each COPYs into the live table in its own transaction, invisible to the others
until it commits, and neither breaks the other."""

import threading
from datetime import UTC

import pytest
from django.core.files import File
from django.db import connection, connections

from accounts.tests.factories import UserFactory
from dashboard.models import Metric, Upload
from dashboard.services.uploads import upload_create, upload_process
from dashboard.tests.test_worker import write_csv

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROWS = 60_000


def _created(path, owner) -> Upload:
    with path.open("rb") as handle:
        return upload_create(file=File(handle, name=path.name), owner=owner, tz=UTC)


def test_two_imports_at_once_neither_sees_nor_breaks_the_other(tmp_path, monkeypatch):
    # Report progress early, so the first import can be held mid-COPY.
    monkeypatch.setattr("dashboard.services.uploads.PROGRESS_EVERY_ROWS", 10_000)
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
