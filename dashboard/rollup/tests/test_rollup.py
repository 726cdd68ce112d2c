"""The hourly rollup: zone alignment, every write path keeping it exact, and its verify/rebuild command."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from io import StringIO
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.tests.factories import UserFactory
from dashboard.metrics.models import Metric
from dashboard.rollup.maintenance import rollup_rebuild, rollup_verify
from dashboard.rollup.models import MetricHour, MetricTotal
from dashboard.rollup.read import hour_window
from dashboard.tests.factories import MetricFactory
from dashboard.uploads.models import Upload
from dashboard.uploads.services import metrics_import, upload_delete

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")  # what an upload is imported in (services take a ZoneInfo)


def csv_file(rows: list[tuple[str, float, datetime]]) -> ContentFile:
    lines = "".join(f"{name},{value!r},{moment.isoformat()}\n" for name, value, moment in rows)
    return ContentFile(("name,value,timestamp\n" + lines).encode(), name="metrics.csv")


def rollup_rows(model, start: str) -> dict[tuple, tuple]:
    """The stored cells of *model* (MetricHour or MetricDay, whose span starts at field *start*) by key."""
    return {
        (cell.name, getattr(cell, start), cell.owner_id, cell.source): (
            cell.value_count,
            cell.value_sum,
            cell.value_min,
            cell.value_max,
            cell.first_timestamp,
            cell.last_timestamp,
            cell.last_id,
            cell.last_value,
        )
        for cell in model.objects.all()
    }


def cells() -> dict[tuple, tuple]:
    return rollup_rows(MetricHour, "hour")


# --- Which zones and ranges the rollup answers --------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"])
def test_whole_hour_zones_use_the_cells_of_the_whole_hours_inside_the_range(zone):
    start, end = datetime(2026, 1, 1, 10, 15, tzinfo=UTC), datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
    assert hour_window(start=start, end=end, tz=ZoneInfo(zone)) == (
        datetime(2026, 1, 1, 11, tzinfo=UTC),
        datetime(2026, 1, 2, 8, tzinfo=UTC),
    )


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "Australia/Lord_Howe"])
def test_zones_with_offsets_off_the_hour_read_raw_rows_only(zone):
    assert hour_window(start=None, end=None, tz=ZoneInfo(zone)) is None


def test_unbounded_ranges_and_ranges_inside_one_hour():
    assert hour_window(start=None, end=None) == (None, None)
    assert hour_window(start=None, end=None, tz=UTC) == (None, None)
    window = hour_window(start=None, end=None, tz=ZoneInfo("Europe/Berlin"))
    assert window is not None
    low, high = window
    assert low is not None
    assert high is not None
    assert (low.year, high.year) == (1900, 2100)  # outside the checked years, raw rows
    assert hour_window(start=T0 + timedelta(minutes=5), end=T0 + timedelta(minutes=55)) is None
    assert hour_window(start=T0, end=T0) is None


# --- Write paths ---------------------------------------------------------------------------------------------------


def test_inserts_merge_into_cells_with_last_by_timestamp_then_id():
    owner = UserFactory()
    first = MetricFactory(owner=owner, name="m", value=5.0, timestamp=T0 + timedelta(minutes=30))
    Metric.objects.bulk_create(
        [
            Metric(owner=owner, name="m", value=-1.0, timestamp=T0 + timedelta(minutes=10)),
            Metric(owner=owner, name="m", value=7.0, timestamp=T0 + timedelta(minutes=30)),
        ]
    )
    tie = Metric.objects.get(value=7.0)
    assert cells() == {
        ("m", T0, owner.pk, 0): (3, 11.0, -1.0, 7.0, T0 + timedelta(minutes=10), first.timestamp, tie.pk, 7.0)
    }


def test_updates_and_deletes_recompute_the_cells_they_leave_and_enter():
    owner = UserFactory()
    keep = MetricFactory(owner=owner, name="m", value=1.0, timestamp=T0)
    moved = MetricFactory(owner=owner, name="m", value=9.0, timestamp=T0 + timedelta(minutes=5))
    moved.timestamp, moved.name = T0 + timedelta(hours=2), "n"
    moved.save()
    assert set(cells()) == {("m", T0, owner.pk, 0), ("n", T0 + timedelta(hours=2), owner.pk, 0)}
    assert cells()[("m", T0, owner.pk, 0)] == (1, 1.0, 1.0, 1.0, T0, T0, keep.pk, 1.0)
    Metric.objects.filter(pk=keep.pk).update(value=4.0)
    assert cells()[("m", T0, owner.pk, 0)][1:4] == (4.0, 4.0, 4.0)
    keep.delete()
    Metric.objects.filter(name="n").delete()
    assert cells() == {}
    assert rollup_verify().ok


def test_an_import_writes_its_own_cells_and_its_delete_drops_exactly_them():
    owner = UserFactory()
    MetricFactory(owner=owner, name="m", value=1.0, timestamp=T0)
    rows = [("m", 2.0, T0 + timedelta(minutes=1)), ("m", 3.0, T0 + timedelta(minutes=1)), ("k", 4.0, T0)]
    upload = metrics_import(file=csv_file(rows), owner=owner, tz=UTC_ZONE).upload
    assert upload is not None
    assert upload.status == Upload.Status.SUCCEEDED
    imported = {metric.value: metric.pk for metric in Metric.objects.filter(upload=upload)}
    assert cells()[("m", T0, owner.pk, upload.pk)] == (
        2,
        5.0,
        2.0,
        3.0,
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=1),
        imported[3.0],  # same timestamp: the later row has the higher id
        3.0,
    )
    assert rollup_verify().ok
    upload_delete(upload=upload)
    assert set(cells()) == {("m", T0, owner.pk, 0)}
    assert rollup_verify().ok


def test_a_failed_import_leaves_no_cells():
    owner = UserFactory()
    file = ContentFile(b"name,value,timestamp\nm,1,2026-01-01T00:00:00Z\nm,nope,2026-01-01T00:00:00Z\n", name="x.csv")
    upload = metrics_import(file=file, owner=owner, tz=UTC_ZONE).upload
    assert upload is not None
    assert upload.status == Upload.Status.FAILED
    assert not MetricHour.objects.exists()


@pytest.mark.postgres_only
def test_an_import_whose_ids_are_not_contiguous_reads_its_ids_back():
    """When other writers take ids from the sequence during a COPY, the import's ids have gaps; a sequence that
    steps by 3 makes those gaps for certain. The cells must still name the right ``last`` rows."""
    owner = UserFactory()
    rows = [("m", float(i), T0 + timedelta(minutes=i % 3)) for i in range(7)] + [("k", 1.0, T0)]
    sequence = "pg_get_serial_sequence('dashboard_metric', 'id')"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval({sequence}, nextval({sequence}))")
        cursor.execute("ALTER SEQUENCE dashboard_metric_id_seq INCREMENT BY 3")
    try:
        upload = metrics_import(file=csv_file(rows), owner=owner, tz=UTC_ZONE).upload
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER SEQUENCE dashboard_metric_id_seq INCREMENT BY 1")
    assert upload is not None
    assert upload.status == Upload.Status.SUCCEEDED
    ids = sorted(Metric.objects.filter(upload=upload).values_list("id", flat=True))
    assert ids[-1] - ids[0] + 1 > len(ids)
    assert rollup_verify().ok
    last = Metric.objects.filter(upload=upload, name="m").order_by("-timestamp", "-id").first()
    assert last is not None
    assert cells()[("m", T0, owner.pk, upload.pk)][6:] == (last.pk, last.value)


def test_deleting_an_upload_elsewhere_than_the_service_drops_its_cells_too():
    owner = UserFactory()
    upload = metrics_import(file=csv_file([("m", 1.0, T0)]), owner=owner, tz=UTC_ZONE).upload
    assert upload is not None
    Upload.objects.filter(pk=upload.pk).delete()  # e.g. the admin's bulk delete: cascades to the metrics
    assert not Metric.objects.exists()
    assert not MetricHour.objects.exists()


def test_admin_edits_keep_the_rollup_exact(user_with_role, client):
    analyst = user_with_role("analyst", is_staff=True)
    client.force_login(analyst)
    metric = MetricFactory(owner=analyst, name="m", value=1.0, timestamp=T0)
    other = MetricFactory(owner=analyst, name="m", value=2.0, timestamp=T0 + timedelta(hours=1))
    response = client.post(
        f"/admin/dashboard/metric/{metric.pk}/change/",
        {"name": "m", "value": "8", "timestamp_0": "2026-03-29", "timestamp_1": "00:30:00"},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert cells()[("m", T0, analyst.pk, 0)][:4] == (1, 8.0, 8.0, 8.0)
    response = client.post(
        "/admin/dashboard/metric/", {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert set(cells()) == {("m", T0, analyst.pk, 0)}
    assert rollup_verify().ok


# --- Verify, rebuild, and the data migration -------------------------------------------------------------------------


def drift() -> None:
    """Change a cell behind the services' back, as a bug or a hand-made SQL fix would."""
    MetricHour.objects.filter(name="m").update(value_max=1000.0)


def test_verify_reports_drift_and_rebuild_repairs_it():
    owner = UserFactory()
    for minute in range(3):
        MetricFactory(owner=owner, name="m", value=float(minute), timestamp=T0 + timedelta(minutes=minute))
    out = StringIO()
    call_command("metrics_rollup", "verify", stdout=out)
    assert "matches" in out.getvalue()
    drift()
    MetricHour.objects.create(
        name="ghost", hour=T0, owner=owner, value_count=1, value_sum=1, value_min=1, value_max=1,
        first_timestamp=T0, last_timestamp=T0, last_id=1, last_value=1,
    )  # fmt: skip
    errors = StringIO()
    with pytest.raises(CommandError, match="differs"):
        call_command("metrics_rollup", "verify", stdout=out, stderr=errors)
    assert "different: name='m'" in errors.getvalue()
    assert "extra: name='ghost'" in errors.getvalue()
    call_command("metrics_rollup", "rebuild", stdout=out)
    assert rollup_verify().ok
    assert cells()[("m", T0, owner.pk, 0)][:4] == (3, 3.0, 0.0, 2.0)


def test_rebuild_matches_what_the_write_paths_maintain():
    owner = UserFactory()
    MetricFactory.create_batch(5, owner=owner)
    metrics_import(file=csv_file([("m", 1.5, T0), ("m", 2.5, T0)]), owner=owner, tz=UTC_ZONE)
    maintained = cells()
    assert rollup_rebuild() == len(maintained)
    assert cells() == maintained


def totals() -> dict[tuple, tuple]:
    return {
        (total.name, total.owner_id, total.source): (total.value_count, total.first_timestamp, total.last_timestamp)
        for total in MetricTotal.objects.all()
    }


def test_the_data_migrations_build_the_rollup_and_are_idempotent():
    rollup = importlib.import_module("dashboard.migrations.0007_metric_hour_rollup")
    per_name = importlib.import_module("dashboard.migrations.0008_metric_totals")
    owner = UserFactory()
    MetricFactory.create_batch(4, owner=owner)
    metrics_import(file=csv_file([("m", 1.5, T0), ("k", 2.5, T0)]), owner=owner, tz=UTC_ZONE)
    maintained, maintained_totals = cells(), totals()
    MetricHour.objects.all().delete()
    MetricTotal.objects.all().delete()
    editor = SimpleNamespace(connection=connection)  # what the operations use of the schema editor
    for _ in range(2):
        rollup.build_rollup(None, editor)
        per_name.build_totals(None, editor)
    assert cells() == maintained
    assert totals() == maintained_totals
    per_name.empty_totals(None, editor)
    rollup.empty_rollup(None, editor)
    assert not MetricHour.objects.exists()
    assert not MetricTotal.objects.exists()


def test_totals_follow_every_write_path():
    owner = UserFactory()
    first = MetricFactory(owner=owner, name="m", timestamp=T0)
    MetricFactory(owner=owner, name="m", timestamp=T0 + timedelta(days=3))
    upload = metrics_import(file=csv_file([("m", 1.0, T0 - timedelta(days=1))]), owner=owner, tz=UTC_ZONE).upload
    assert upload is not None
    assert totals() == {
        ("m", owner.pk, 0): (2, T0, T0 + timedelta(days=3)),
        ("m", owner.pk, upload.pk): (1, T0 - timedelta(days=1), T0 - timedelta(days=1)),
    }
    first.delete()
    assert totals()[("m", owner.pk, 0)] == (1, T0 + timedelta(days=3), T0 + timedelta(days=3))
    upload_delete(upload=upload)
    Metric.objects.update(name="n")
    assert totals() == {("n", owner.pk, 0): (1, T0 + timedelta(days=3), T0 + timedelta(days=3))}
    assert rollup_verify().ok
    MetricTotal.objects.update(value_count=5)
    assert [kind for kind, *_ in rollup_verify().mismatches] == ["different total"]


@pytest.mark.postgres_only
@pytest.mark.parametrize("ordered", [True, False], ids=["in time order", "shuffled"])
@pytest.mark.parametrize("gaps", [False, True], ids=["contiguous ids", "ids with gaps"])
def test_a_big_import_spills_its_cells_and_still_matches_the_raw_rows(monkeypatch, ordered, gaps):
    """More cells than fit in memory: they are spilled to a temporary table while the COPY goes on; in a shuffled file
    cells come back after their spill and are merged."""
    monkeypatch.setattr("dashboard.rollup.write.CELLS_IN_MEMORY", 4)
    owner = UserFactory()
    ties = [("m0", 9.0, T0), ("m0", -9.0, T0)]  # on one timestamp: the later row is the last
    rows = ties + [(f"m{i % 3}", float(i % 7) - 2.5, T0 + timedelta(minutes=17 * i)) for i in range(60)]
    if not ordered:
        rows = rows[1::2] + rows[::2]
    if gaps:
        with connection.cursor() as cursor:
            cursor.execute("ALTER SEQUENCE dashboard_metric_id_seq INCREMENT BY 3")
    try:
        upload = metrics_import(file=csv_file(rows), owner=owner, tz=UTC_ZONE).upload
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER SEQUENCE dashboard_metric_id_seq INCREMENT BY 1")
    assert upload is not None
    assert upload.status == Upload.Status.SUCCEEDED
    assert rollup_verify().ok
    assert sum(count for count, *_ in cells().values()) == len(rows)
