"""The daily rollup: which UTC days serve a bucket whole, reads composed from days, hours and raw rows equal to the raw
computation, and every write path keeping the days equal to their hours."""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections, transaction

from accounts.tests.factories import UserFactory
from dashboard.metrics.models import Metric
from dashboard.metrics.selectors import MetricFilters, bucket_points, metric_count, metric_names, metric_series
from dashboard.rollup.cells import Cell, days_of
from dashboard.rollup.maintenance import rollup_rebuild, rollup_verify
from dashboard.rollup.models import MetricDay, MetricHour
from dashboard.rollup.read import _straddles, split
from dashboard.rollup.tests.test_rollup import UTC_ZONE, csv_file, rollup_rows
from dashboard.tests.factories import MetricFactory
from dashboard.uploads.services import metrics_import, upload_delete

pytestmark = pytest.mark.django_db

BERLIN, NEW_YORK, KOLKATA = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")
JAN = datetime(2026, 1, 1, tzinfo=UTC)


def day(month: int, number: int) -> datetime:
    return datetime(2026, month, number, tzinfo=UTC)


def stored_days() -> dict[tuple, tuple]:
    return rollup_rows(MetricDay, "day")


def folded_hours() -> dict[tuple, tuple]:
    """The days the stored hour cells make, folded in Python."""
    hours = {
        (h.name, h.hour, h.owner_id, h.source): Cell(
            h.value_count,
            h.value_sum,
            h.value_min,
            h.value_max,
            h.first_timestamp,
            h.last_timestamp,
            h.last_id,
            h.last_value,
        )
        for h in MetricHour.objects.all()
    }
    return {key: cell.row(key)[4:] for key, cell in days_of(hours).items()}


# --- Which days serve a bucket ----------------------------------------------------------------------------------


def test_the_days_holding_a_bucket_boundary_after_their_midnight_are_read_from_hours():
    # Berlin months start at 23:00 UTC the day before (CET): Jan 31 and Feb 28 hold two months' hours.
    assert _straddles(JAN, day(3, 31), "month", BERLIN) == [day(1, 31), day(2, 28)]
    # New York weeks start on Mondays at 05:00 UTC, then 04:00 UTC after the DST change of March 8.
    assert _straddles(day(3, 1), day(3, 22), "week", NEW_YORK) == [day(3, 2), day(3, 9), day(3, 16)]
    # In UTC every bucket starts at midnight; day buckets off UTC straddle every day, so days do not help.
    assert _straddles(JAN, day(12, 31), "month", UTC) == []
    assert _straddles(JAN, day(3, 31), "day", BERLIN) is None


def test_counts_and_names_take_every_whole_day_and_hours_only_at_the_edges():
    owner = UserFactory()
    MetricFactory(owner=owner, name="m", value=1.0, timestamp=JAN + timedelta(hours=5))
    metrics = Metric.objects.all()
    days, hours, raw = split(
        metrics=metrics,
        cells=MetricHour.objects.all(),
        days=MetricDay.objects.all(),
        start=JAN - timedelta(minutes=30),
        end=day(1, 5) + timedelta(hours=2),
    )
    assert days is not None
    assert list(days.values_list("day", flat=True)) == [JAN]  # the whole days inside: Jan 1 .. Jan 4
    assert hours is not None
    assert raw is not None
    unbounded = split(
        metrics=metrics, cells=MetricHour.objects.all(), days=MetricDay.objects.all(), start=None, end=None
    )
    assert unbounded[1:] == (None, None)  # everything from the days


# --- Reads composed from days equal the raw computation --------------------------------------------------------


@pytest.fixture
def spread():
    """A value every 7 hours (a few off the hour) from mid-December to mid-April: months, weeks, both DST changes."""
    owner = UserFactory()
    start = datetime(2025, 12, 14, 3, 10, tzinfo=UTC)
    rows = [
        Metric(owner=owner, name="m", value=float((i * 37) % 23) - 7.5, timestamp=start + timedelta(hours=7 * i))
        for i in range(420)
    ]
    rows += [
        Metric(owner=owner, name="m", value=99.0, timestamp=day(3, 29) + timedelta(hours=1, minutes=m)) for m in (0, 59)
    ]
    Metric.objects.bulk_create(rows)
    return owner


@pytest.mark.parametrize("zone", [UTC, BERLIN, NEW_YORK, KOLKATA], ids=str)
@pytest.mark.parametrize("bucket", ["week", "month", "quarter", "year"])
@pytest.mark.parametrize(
    "bounds",
    [(None, None), (datetime(2026, 1, 1, 0, 20, tzinfo=UTC), datetime(2026, 4, 2, 17, 45, tzinfo=UTC))],
    ids=["all data", "odd edges"],
)
def test_series_from_days_hours_and_raw_rows_equal_the_raw_computation(spread, zone, bucket, bounds):
    start, end = bounds
    raw = Metric.objects.filter(name="m")
    if start is not None:
        raw = raw.filter(timestamp__gte=start, timestamp__lt=end)
    for agg in ("sum", "avg", "min", "max", "count", "last"):
        composed = metric_series(user=spread, name="m", bucket=bucket, agg=agg, tz=zone, start=start, end=end)
        expected = bucket_points(raw, bucket=bucket, agg=agg, tz=zone)
        assert [(p.t, p.count) for p in composed] == [(p.t, p.count) for p in expected], agg
        assert [p.value for p in composed] == pytest.approx([p.value for p in expected], rel=1e-12, abs=1e-9), agg


def test_a_month_series_in_berlin_reads_day_cells():
    """Not only equal: the whole days come from the day cells (a bug that dropped them would show in the counts)."""
    owner = UserFactory()
    Metric.objects.bulk_create(
        [Metric(owner=owner, name="m", value=1.0, timestamp=JAN + timedelta(hours=h)) for h in range(0, 24 * 60, 5)]
    )
    filters = MetricFilters(name="m", start=JAN, end=day(3, 1))
    days, hours, raw = split(
        metrics=Metric.objects.filter(name="m", timestamp__gte=JAN, timestamp__lt=day(3, 1)),
        cells=MetricHour.objects.filter(name="m"),
        days=MetricDay.objects.filter(name="m"),
        start=filters.start,
        end=filters.end,
        tz=BERLIN,
        bucket="month",
    )
    assert days is not None
    assert hours is not None
    assert raw is not None
    assert days.count() == 59 - 2  # Jan 1 .. Feb 28 but Jan 31 and Feb 28, which hold the start of a Berlin month
    assert (
        sum(days.values_list("value_count", flat=True))
        + sum(hours.values_list("value_count", flat=True))
        + (raw.count())
        == Metric.objects.filter(timestamp__gte=JAN, timestamp__lt=day(3, 1)).count()
    )
    assert metric_count(user=owner, filters=filters) == Metric.objects.filter(timestamp__lt=day(3, 1)).count()
    assert metric_names(user=owner, filters=filters)[0]["count"] == metric_count(user=owner, filters=filters)


# --- Every write path keeps the days equal to their hours --------------------------------------------------------


def test_every_write_path_keeps_the_days_equal_to_the_hours():
    owner = UserFactory()
    first = MetricFactory(owner=owner, name="m", value=5.0, timestamp=JAN + timedelta(hours=1))
    MetricFactory(owner=owner, name="m", value=7.0, timestamp=JAN + timedelta(hours=20))
    Metric.objects.bulk_create(
        [Metric(owner=owner, name="m", value=-1.0, timestamp=JAN + timedelta(hours=h)) for h in (2, 30)]
    )
    assert stored_days() == folded_hours()
    assert stored_days()[("m", JAN, owner.pk, 0)][:4] == (3, 11.0, -1.0, 7.0)
    first.timestamp = JAN + timedelta(days=3)  # moves to another day
    first.save()
    Metric.objects.filter(value=7.0).update(value=70.0)
    assert stored_days() == folded_hours()
    upload = metrics_import(
        file=csv_file([("m", 2.0, JAN), ("k", 4.0, JAN + timedelta(days=1, hours=3))]), owner=owner, tz=UTC_ZONE
    ).upload
    assert upload is not None
    assert stored_days() == folded_hours()
    assert ("k", JAN + timedelta(days=1), owner.pk, upload.pk) in stored_days()
    Metric.objects.filter(value=-1.0).delete()
    first.delete()
    assert stored_days() == folded_hours()
    upload_delete(upload=upload)
    assert stored_days() == folded_hours()
    assert list(stored_days()) == [("m", JAN, owner.pk, 0)]
    assert stored_days()[("m", JAN, owner.pk, 0)][:4] == (1, 70.0, 70.0, 70.0)
    assert rollup_verify().ok
    Metric.objects.all().delete()
    assert stored_days() == {}


def test_verify_reports_a_drifted_day_and_rebuild_repairs_it():
    owner = UserFactory()
    MetricFactory(owner=owner, name="m", value=1.0, timestamp=JAN)
    MetricDay.objects.update(value_max=1000.0)
    assert [kind for kind, *_ in rollup_verify().mismatches] == ["day different"]
    rollup_rebuild()
    assert rollup_verify().ok
    assert stored_days() == folded_hours()


def test_the_day_migration_builds_the_days_and_is_idempotent():
    migration = importlib.import_module("dashboard.migrations.0013_metric_day_rollup")
    owner = UserFactory()
    MetricFactory.create_batch(30, owner=owner)
    metrics_import(file=csv_file([("m", 1.5, JAN), ("k", 2.5, day(2, 3))]), owner=owner, tz=UTC_ZONE)
    maintained = stored_days()
    MetricDay.objects.all().delete()
    editor = SimpleNamespace(connection=connection)
    for _ in range(2):
        migration.build_days(None, editor)
    assert stored_days() == maintained
    migration.empty_days(None, editor)
    assert not MetricDay.objects.exists()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_writers_of_one_day_take_turns_and_the_later_one_refolds_the_earlier_ones_hours():
    """An update holds its day cell until it commits; an update and an insert into other hours of that day wait for
    it, then fold its committed hour (a refold read before the wait would write back the old value)."""
    owner = UserFactory()
    first = MetricFactory(owner=owner, name="m", value=1.0, timestamp=JAN + timedelta(hours=1))
    second = MetricFactory(owner=owner, name="m", value=2.0, timestamp=JAN + timedelta(hours=5))
    holding, release = threading.Event(), threading.Event()

    def update(pk: int, value: float, *, hold: bool = False) -> None:
        try:
            with transaction.atomic():
                metric = Metric.objects.get(pk=pk)
                metric.value = value
                metric.save()
                if hold:
                    holding.set()
                    release.wait(timeout=30)
            if not hold:
                MetricFactory(owner=owner, name="m", value=3.0, timestamp=JAN + timedelta(hours=9))
        finally:
            connections.close_all()

    holder = threading.Thread(target=update, args=(first.pk, 10.0), kwargs={"hold": True})
    holder.start()
    try:
        assert holding.wait(timeout=30)
        waiter = threading.Thread(target=update, args=(second.pk, 20.0))
        waiter.start()
        waiter.join(timeout=1)
        assert waiter.is_alive()  # queued behind the held day cell
    finally:
        release.set()
    holder.join(timeout=30)
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert rollup_verify().ok
    assert stored_days()[("m", JAN, owner.pk, 0)][:4] == (3, 33.0, 3.0, 20.0)
