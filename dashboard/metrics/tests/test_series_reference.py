"""Property tests: series buckets and the KPI summary computed in the database equal a plain-Python reference.

Series, summaries, names and counts are composed from the hourly rollup where it applies (raw rows elsewhere), so
they are also checked after random sequences of every kind of write (inserts, imports, updates, deletes, upload
deletes). Counts, minima, maxima, ``last``, bucket starts and names are compared exactly; sums and averages exactly
when every value is a dyadic fraction (their sums are exact in any order) and otherwise within 1e-9 (relative), the
tolerance of a float sum whose order of addition the database chooses (see the README, "Exactness").

The reference follows API.md ("Dashboard") on its own terms, without calling ``dashboard.timeseries`` or the
selectors: a bucket is the wall-clock period in the zone, read back in the zone with ``fold=0`` (the first
occurrence of a repeated hour); ``last`` is the value with the latest timestamp, ties going to the highest id.
Timestamps cluster around both DST changes of Europe/Berlin and America/New_York and around period boundaries,
with some spread over three years so month, quarter and year buckets get several points.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from dashboard.kpis.models import KPI
from dashboard.kpis.selectors import kpi_summary
from dashboard.metrics.models import Metric
from dashboard.metrics.selectors import MetricFilters, bucket_points, metric_count, metric_names, metric_series
from dashboard.metrics.services import metric_delete, metric_update
from dashboard.rollup.maintenance import rollup_verify
from dashboard.tests.factories import KPIFactory
from dashboard.uploads.models import Upload
from dashboard.uploads.services import metrics_import, upload_delete

pytestmark = pytest.mark.django_db

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
BUCKETS = ("hour", "day", "week", "month", "quarter", "year")
PERIODS = ("day", "week", "month", "quarter", "year")
AGGREGATIONS = ("sum", "avg", "min", "max", "count", "last")

# The instants (UTC) at which clocks change in 2026: New York forward, Berlin forward, Berlin back, New York back.
DST_CHANGES = (
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
)
# Year and quarter starts, where a UTC instant and its wall-clock time in another zone fall in different periods.
PERIOD_BOUNDARIES = tuple(datetime(year, month, 1, tzinfo=UTC) for year in (2026, 2027) for month in (1, 4, 7, 10))
SPREAD_START = datetime(2025, 1, 1, tzinfo=UTC)
SPREAD_MINUTES = 3 * 365 * 24 * 60
DAY_MINUTES = 24 * 60


@pytest.fixture(autouse=True, scope="module")
def _series_of_any_size():
    """These tests compare arbitrary ranges with a reference (three years of hours); the size limit has its own."""
    with override_settings(SERIES_MAX_POINTS=10**6):
        yield


# Fast enough for the whole module to stay around a minute on either database.
EXAMPLES = settings(max_examples=40, deadline=None)
WRITE_SEQUENCES = settings(max_examples=25, deadline=None)


def _minutes_from(anchors: tuple[datetime, ...], minutes: st.SearchStrategy[int]) -> st.SearchStrategy[datetime]:
    return st.builds(lambda anchor, offset: anchor + timedelta(minutes=offset), st.sampled_from(anchors), minutes)


# Within two hours of a change (the skipped and the repeated hour), or within three days of it.
near_dst_change = _minutes_from(
    DST_CHANGES, st.one_of(st.integers(-120, 120), st.integers(-3 * DAY_MINUTES, 3 * DAY_MINUTES))
)
near_period_boundary = _minutes_from(PERIOD_BOUNDARIES, st.integers(-DAY_MINUTES, DAY_MINUTES))
spread = st.integers(0, SPREAD_MINUTES).map(lambda offset: SPREAD_START + timedelta(minutes=offset))
instants = st.one_of(near_dst_change, near_period_boundary, spread)
# Range edges: on a whole hour (the rollup answers all of it) or not (the partial hours come from raw rows).
edges = st.one_of(st.none(), instants, instants.map(lambda moment: moment.replace(minute=0)))

# Negative and fractional; small enough that summing in another order stays within the comparison tolerance.
values = st.one_of(
    st.integers(-1_000_000, 1_000_000).map(lambda n: n / 100),
    st.floats(min_value=-10_000, max_value=10_000, allow_nan=False, allow_infinity=False),
)
# Dyadic fractions add up exactly in any order, so the KPI statuses can be compared exactly, boundaries included.
exact_values = st.one_of(
    st.integers(-5, 5).map(float),
    st.integers(-80_000, 80_000).map(lambda n: n / 8),
)


@st.composite
def timestamped_values(draw, *, moments=instants, max_size=25) -> list[tuple[datetime, float]]:
    """``[(timestamp, value)]`` where timestamps repeat often, to exercise the ``last`` tie rule."""
    pool = draw(st.lists(moments, min_size=1, max_size=8))
    moment = st.one_of(st.sampled_from(pool), moments)
    return draw(st.lists(st.tuples(moment, draw(st.sampled_from([values, exact_values]))), max_size=max_size))


class Row(NamedTuple):
    id: int
    name: str
    owner_id: int
    timestamp: datetime
    value: float


class ExpectedPoint(NamedTuple):
    t: str
    value: float
    row_count: int  # a series point's ``count`` (a NamedTuple field cannot be named so: it would hide tuple.count)


# --- The reference ---------------------------------------------------------------------------------------------


def reference_bucket_start(moment: datetime, bucket: str, zone: ZoneInfo) -> datetime:
    """The wall-clock *bucket* in *zone* holding *moment*, read in *zone* (first occurrence of a repeated time)."""
    wall = moment.astimezone(zone).replace(tzinfo=None)
    if bucket == "hour":
        start = datetime(wall.year, wall.month, wall.day, wall.hour)
    else:
        day = wall.date()
        if bucket == "week":
            day = day - timedelta(days=day.weekday())
        elif bucket == "month":
            day = day.replace(day=1)
        elif bucket == "quarter":
            day = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        elif bucket == "year":
            day = day.replace(month=1, day=1)
        else:
            assert bucket == "day"
        start = datetime.combine(day, time())
    return start.replace(tzinfo=zone, fold=0)


def reference_aggregate(rows: list[Row], agg: str) -> float:
    if agg == "sum":
        return math.fsum(row.value for row in rows)
    if agg == "avg":
        return math.fsum(row.value for row in rows) / len(rows)
    if agg == "min":
        return min(row.value for row in rows)
    if agg == "max":
        return max(row.value for row in rows)
    if agg == "count":
        return float(len(rows))
    assert agg == "last"
    return max(rows, key=lambda row: (row.timestamp, row.id)).value


def reference_points(rows: list[Row], *, bucket: str, agg: str, zone: ZoneInfo) -> list[ExpectedPoint]:
    groups: dict[datetime, list[Row]] = defaultdict(list)
    for row in rows:
        groups[reference_bucket_start(row.timestamp, bucket, zone)].append(row)
    starts = sorted(groups, key=lambda start: start.astimezone(UTC))
    return [
        ExpectedPoint(start.isoformat(), reference_aggregate(groups[start], agg), len(groups[start]))
        for start in starts
    ]


def reference_status(
    *, current: float | None, previous: float | None, target: float | None, direction: str, warning_pct: float
) -> tuple[float | None, float | None, str]:
    """``(change_pct, progress_pct, status)`` as API.md's summary arithmetic states it."""
    change = (
        None if current is None or previous is None or previous == 0 else (current - previous) / abs(previous) * 100
    )
    progress = None if current is None or target is None or target == 0 else current / target * 100
    if current is None:
        return change, progress, "no_data"
    if target is None:
        return change, progress, "no_target"
    margin = abs(target) * warning_pct / 100
    if direction == "up":
        status = "on_track" if current >= target else "at_risk" if current >= target - margin else "off_track"
    else:
        status = "on_track" if current <= target else "at_risk" if current <= target + margin else "off_track"
    return change, progress, status


# --- Helpers -----------------------------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run one Hypothesis example in a transaction that is always rolled back, so examples never share rows."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def create_metrics(owner, name: str, data: list[tuple[datetime, float]]) -> None:
    Metric.objects.bulk_create(Metric(name=name, owner=owner, timestamp=moment, value=value) for moment, value in data)


def stored_rows() -> list[Row]:
    return [Row(*fields) for fields in Metric.objects.values_list("id", "name", "owner_id", "timestamp", "value")]


def grant_view_all(user) -> None:
    user.user_permissions.add(Permission.objects.get(content_type__app_label="dashboard", codename="view_all_metrics"))


def close(actual: float | None, expected: float | None) -> bool:
    if actual is None or expected is None:
        return actual is expected
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)


def is_dyadic(value: float) -> bool:
    return (value * 8).is_integer()


def assert_points_equal(points, expected: list[ExpectedPoint], agg: str, *, exact_sums: bool, context: str) -> None:
    """Bucket starts and counts equal; values equal too, but for float sums and averages of non-dyadic values,
    which are within the tolerance."""
    actual = [(point.t.isoformat(), point.value, point.count) for point in points]
    assert [(t, count) for t, _, count in actual] == [(t, count) for t, _, count in expected], context
    for (t, value, _), point in zip(actual, expected, strict=True):
        if agg in ("sum", "avg") and not exact_sums:
            assert close(value, point.value), f"{context} at {t}: {value} != {point.value}"
        else:
            assert value == point.value, f"{context} at {t}: {value} != {point.value}"


def assert_points_match(points, expected: list[ExpectedPoint], context: str) -> None:
    actual = [(point.t.isoformat(), point.value, point.count) for point in points]
    assert [(t, count) for t, _, count in actual] == [(t, count) for t, _, count in expected], context
    for (t, value, _), point in zip(actual, expected, strict=True):
        assert close(value, point.value), f"{context} at {t}: {value} != {point.value}"


# --- Series ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", BUCKETS)
@pytest.mark.parametrize("zone_name", ZONES)
@EXAMPLES
@given(data=timestamped_values())
def test_bucket_points_match_the_reference_for_every_aggregation(zone_name, bucket, data):
    zone = ZoneInfo(zone_name)
    with rolled_back():
        create_metrics(UserFactory(), "revenue", data)
        rows = stored_rows()
        for agg in AGGREGATIONS:
            points = bucket_points(Metric.objects.filter(name="revenue"), bucket=bucket, agg=agg, tz=zone)
            expected = reference_points(rows, bucket=bucket, agg=agg, zone=zone)
            assert_points_match(points, expected, f"{bucket}/{agg} in {zone_name}")


@pytest.mark.parametrize("zone_name", ZONES)
@EXAMPLES
@given(
    own=timestamped_values(),
    others=timestamped_values(max_size=5),
    other_name=timestamped_values(max_size=5),
    sees_all=st.booleans(),
    start=st.none() | instants,
    end=st.none() | instants,
    bucket=st.sampled_from(BUCKETS),
)
def test_metric_series_filters_what_the_user_sees_then_buckets(
    zone_name, own, others, other_name, sees_all, start, end, bucket
):
    zone = ZoneInfo(zone_name)
    with rolled_back():
        user, stranger = UserFactory(), UserFactory()
        if sees_all:
            grant_view_all(user)
        create_metrics(user, "revenue", own)
        create_metrics(stranger, "revenue", others)
        create_metrics(user, "visits", other_name)
        rows = [
            row
            for row in stored_rows()
            if row.name == "revenue"
            and (sees_all or row.owner_id == user.pk)
            and (start is None or row.timestamp >= start)
            and (end is None or row.timestamp < end)
        ]
        for agg in AGGREGATIONS:
            points = metric_series(user=user, name="revenue", bucket=bucket, agg=agg, tz=zone, start=start, end=end)
            expected = reference_points(rows, bucket=bucket, agg=agg, zone=zone)
            assert_points_match(points, expected, f"{bucket}/{agg} in {zone_name}")


write_operations = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.booleans(), timestamped_values(max_size=6)),
        st.tuples(st.just("import"), st.booleans(), timestamped_values(max_size=6)),
        st.tuples(
            st.just("update"),
            st.integers(0, 999),
            st.sampled_from(["value", "timestamp", "name", "all"]),
            instants,
            st.one_of(values, exact_values),
        ),
        st.tuples(st.just("delete"), st.integers(0, 999)),
        st.tuples(st.just("delete_many"), st.integers(0, 999), st.integers(1, 4)),
        st.tuples(st.just("delete_upload"), st.integers(0, 999)),
    ),
    min_size=1,
    max_size=10,
)


def apply_writes(user, stranger, operations) -> None:
    """Run *operations* through the write paths the API, the admin and the importer use."""
    for operation in operations:
        kind, *args = operation
        metrics = list(Metric.objects.order_by("id"))
        if kind in ("insert", "import"):
            mine, data = args
            owner = user if mine else stranger
            if kind == "insert":
                create_metrics(owner, "revenue", data)
            elif data:
                lines = "".join(f"revenue,{value!r},{moment.isoformat()}\n" for moment, value in data)
                outcome = metrics_import(
                    file=ContentFile(("name,value,timestamp\n" + lines).encode(), name="metrics.csv"),
                    owner=owner,
                    tz=ZoneInfo("UTC"),
                    allow_duplicate=True,
                )
                assert outcome.upload is not None
                assert outcome.upload.status == Upload.Status.SUCCEEDED, outcome.upload.errors
        elif kind == "update" and metrics:
            index, field, moment, value = args
            metric = metrics[index % len(metrics)]
            changes = {
                "value": {"value": value},
                "timestamp": {"timestamp": moment},
                "name": {"name": "visits" if metric.name == "revenue" else "revenue"},
                "all": {"value": value, "timestamp": moment, "name": "revenue"},
            }[field]
            metric_update(metric=metric, **changes)
        elif kind == "delete" and metrics:
            metric_delete(metric=metrics[args[0] % len(metrics)])
        elif kind == "delete_many" and metrics:
            start, size = args
            chosen = [metric.pk for metric in metrics[start % len(metrics) :][:size]]
            Metric.objects.filter(pk__in=chosen).delete()  # the admin's bulk delete
        elif kind == "delete_upload":
            uploads = list(Upload.objects.order_by("id"))
            if uploads:
                upload_delete(upload=uploads[args[0] % len(uploads)])


@pytest.mark.parametrize("zone_name", ZONES)
@WRITE_SEQUENCES
@given(operations=write_operations, start=edges, end=edges, sees_all=st.booleans())
def test_rollup_reads_match_the_reference_after_any_writes(zone_name, operations, start, end, sees_all):
    """Series for every bucket and aggregation, names and the list count, after inserts, imports, updates,
    deletes and upload deletes; and the rollup equals the one the raw rows make."""
    zone = ZoneInfo(zone_name)
    with rolled_back():
        user, stranger = UserFactory(), UserFactory()
        if sees_all:
            grant_view_all(user)
        apply_writes(user, stranger, operations)
        assert rollup_verify().ok
        visible = [
            row
            for row in stored_rows()
            if (sees_all or row.owner_id == user.pk)
            and (start is None or row.timestamp >= start)
            and (end is None or row.timestamp < end)
        ]
        revenue = [row for row in visible if row.name == "revenue"]
        exact_sums = all(is_dyadic(row.value) for row in revenue)
        for bucket in BUCKETS:
            for agg in AGGREGATIONS:
                points = metric_series(user=user, name="revenue", bucket=bucket, agg=agg, tz=zone, start=start, end=end)
                expected = reference_points(revenue, bucket=bucket, agg=agg, zone=zone)
                context = f"{bucket}/{agg} in {zone_name} over [{start}, {end})"
                assert_points_equal(points, expected, agg, exact_sums=exact_sums, context=context)
        filters = MetricFilters(start=start, end=end)
        assert metric_count(user=user, filters=filters) == len(visible)
        expected_names = [
            {
                "name": name,
                "count": len(group),
                "first": min(row.timestamp for row in group),
                "last": max(row.timestamp for row in group),
            }
            for name in sorted({row.name for row in visible})
            for group in [[row for row in visible if row.name == name]]
        ]
        assert metric_names(user=user, filters=filters) == expected_names


def test_repeated_hour_is_one_bucket_named_by_its_first_occurrence():
    """The New York fall-back hour: 01:30 EDT and 01:30 EST land in one bucket, ``t`` carrying the EDT offset."""
    zone = ZoneInfo("America/New_York")
    user = UserFactory()
    first, second = datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    create_metrics(user, "revenue", [(second, 2.0), (first, 1.0), (second, 3.0)])
    points = bucket_points(Metric.objects.all(), bucket="hour", agg="last", tz=zone)
    assert [(point.t.isoformat(), point.value, point.count) for point in points] == [
        ("2026-11-01T01:00:00-04:00", 3.0, 3)
    ]
    assert reference_points(stored_rows(), bucket="hour", agg="last", zone=zone) == [
        ExpectedPoint("2026-11-01T01:00:00-04:00", 3.0, 3)
    ]


# --- KPI summary -------------------------------------------------------------------------------------------------

kpi_specs = st.fixed_dictionaries(
    {
        "metric_name": st.sampled_from(["revenue", "visits"]),
        "aggregation": st.sampled_from(AGGREGATIONS),
        "period": st.sampled_from(PERIODS),
        "target": st.one_of(st.none(), st.just(0.0), exact_values),
        "direction": st.sampled_from(["up", "down"]),
        "warning_threshold_pct": st.one_of(st.sampled_from([0.0, 10.0, 50.0]), st.integers(0, 100).map(float)),
    }
)


@st.composite
def summary_scenarios(draw):
    """A moment ``now`` and metrics around it: close by (same and previous day/week) and up to two years back."""
    now = draw(instants)
    offsets = st.one_of(
        st.integers(-8 * DAY_MINUTES, 2 * DAY_MINUTES),
        st.integers(-800 * DAY_MINUTES, 400 * DAY_MINUTES),
    )
    moments = st.builds(lambda offset: now + timedelta(minutes=offset), offsets)
    rows = st.lists(st.tuples(st.sampled_from(["revenue", "visits"]), moments, exact_values), max_size=30)
    return now, draw(rows), draw(rows.map(lambda items: items[:5]))


@pytest.mark.parametrize("zone_name", ZONES)
@EXAMPLES
@given(scenario=summary_scenarios(), specs=st.lists(kpi_specs, min_size=1, max_size=4), sees_all=st.booleans())
def test_kpi_summary_matches_the_reference(zone_name, scenario, specs, sees_all):
    zone = ZoneInfo(zone_name)
    now, own, others = scenario
    with rolled_back():
        user, stranger = UserFactory(), UserFactory()
        if sees_all:
            grant_view_all(user)
        for owner, items in ((user, own), (stranger, others)):
            Metric.objects.bulk_create(
                Metric(name=name, owner=owner, timestamp=moment, value=value) for name, moment, value in items
            )
        kpis = [KPIFactory(**spec) for spec in specs]
        visible = [row for row in stored_rows() if sees_all or row.owner_id == user.pk]

        summary = {status.kpi.pk: status for status in kpi_summary(user=user, tz=zone, now=now)}

        assert set(summary) == {kpi.pk for kpi in kpis}
        for kpi in kpis:
            current_start = reference_bucket_start(now, kpi.period, zone)
            previous_start = reference_bucket_start(
                current_start.astimezone(UTC) - timedelta(seconds=1), kpi.period, zone
            )
            by_start = {
                point.t: point.value
                for point in reference_points(
                    [row for row in visible if row.name == kpi.metric_name],
                    bucket=kpi.period,
                    agg=kpi.aggregation,
                    zone=zone,
                )
            }
            current, previous = by_start.get(current_start.isoformat()), by_start.get(previous_start.isoformat())
            change, progress, status = reference_status(
                current=current,
                previous=previous,
                target=kpi.target,
                direction=kpi.direction,
                warning_pct=kpi.warning_threshold_pct,
            )
            # To date: the previous period up to as far into it (wall clock) as now is into the current one.
            elapsed = now.astimezone(zone).replace(tzinfo=None) - current_start.replace(tzinfo=None)
            cut = (previous_start.replace(tzinfo=None) + elapsed).replace(tzinfo=zone)
            cut = min(cut, current_start, key=lambda moment: moment.astimezone(UTC))
            before_cut = [row for row in visible if row.name == kpi.metric_name and row.timestamp < cut]
            to_date = {
                point.t: point.value
                for point in reference_points(before_cut, bucket=kpi.period, agg=kpi.aggregation, zone=zone)
            }.get(previous_start.isoformat())
            change_to_date = reference_status(
                current=current, previous=to_date, target=None, direction=kpi.direction, warning_pct=0
            )[0]
            actual = summary[kpi.pk]
            context = f"{kpi.period}/{kpi.aggregation} of {kpi.metric_name} in {zone_name} at {now.isoformat()}"
            assert actual.current.period_start.isoformat() == current_start.isoformat(), context
            assert actual.previous.period_start.isoformat() == previous_start.isoformat(), context
            assert close(actual.current.value, current), f"{context}: current {actual.current} != {current}"
            assert close(actual.previous.value, previous), f"{context}: previous {actual.previous} != {previous}"
            assert actual.previous_to_date.end.astimezone(UTC) == cut.astimezone(UTC), context
            assert close(actual.previous_to_date.value, to_date), f"{context}: to date {actual.previous_to_date}"
            assert close(actual.change_to_date_pct, change_to_date), context
            assert close(actual.change_pct, change), f"{context}: change {actual.change_pct} != {change}"
            assert close(actual.progress_pct, progress), f"{context}: progress {actual.progress_pct} != {progress}"
            assert actual.status == status, context


# --- Status edge cases -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "target", "warning", "current", "status"),
    [
        ("up", 100.0, 10.0, 100.0, "on_track"),
        ("up", 100.0, 10.0, 90.0, "at_risk"),
        ("up", 100.0, 10.0, 89.75, "off_track"),
        ("up", 100.0, 10.0, 150.0, "on_track"),
        ("down", 100.0, 10.0, 100.0, "on_track"),
        ("down", 100.0, 10.0, 110.0, "at_risk"),
        ("down", 100.0, 10.0, 110.25, "off_track"),
        ("down", 100.0, 10.0, -5.0, "on_track"),
        # A negative target: the margin is taken from |target|.
        ("up", -100.0, 10.0, -110.0, "at_risk"),
        ("up", -100.0, 10.0, -110.5, "off_track"),
        ("down", -100.0, 10.0, -90.0, "at_risk"),
        ("down", -100.0, 10.0, -89.5, "off_track"),
        # No margin: anything short of the target is off track.
        ("up", 100.0, 0.0, 100.0, "on_track"),
        ("up", 100.0, 0.0, 99.75, "off_track"),
        ("down", 100.0, 0.0, 100.25, "off_track"),
        # A zero target has a zero margin.
        ("up", 0.0, 10.0, 0.0, "on_track"),
        ("up", 0.0, 10.0, -0.25, "off_track"),
        ("down", 0.0, 10.0, 0.25, "off_track"),
    ],
)
def test_status_at_the_edges(direction, target, warning, current, status):
    kpi = KPI(target=target, direction=direction, warning_threshold_pct=warning)
    actual = kpi.reading(current=current, previous=None).status
    _, _, expected = reference_status(
        current=current, previous=None, target=target, direction=direction, warning_pct=warning
    )
    assert actual == expected == status


@pytest.mark.parametrize(
    ("target", "current", "previous", "expected"),
    [
        (None, 5.0, 4.0, (25.0, None, "no_target")),
        (100.0, None, 4.0, (None, None, "no_data")),
        (None, None, None, (None, None, "no_data")),
        (0.0, 5.0, 0.0, (None, None, "on_track")),
        (0.0, -5.0, None, (None, None, "off_track")),
        (50.0, -50.0, -100.0, (50.0, -100.0, "off_track")),
        (-50.0, -50.0, 100.0, (-150.0, 100.0, "on_track")),
    ],
)
def test_change_and_progress_null_cases(target, current, previous, expected):
    kpi = KPI(target=target, direction="up", warning_threshold_pct=10.0)
    assert astuple(kpi.reading(current=current, previous=previous)) == expected
    assert reference_status(current=current, previous=previous, target=target, direction="up", warning_pct=10.0) == (
        expected
    )
