"""Selectors that batch work agree with their one-at-a-time counterparts; the summary's to-date comparison."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dashboard.kpis.selectors import PeriodToDate, kpi_recent_series, kpi_series, kpi_summary, to_date_cut
from dashboard.tests.factories import KPIFactory, MetricFactory
from dashboard.timeseries import bucket_start, period_shift

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_recent_series_of_many_kpis_equal_each_kpi_series(user_with_role, tz):
    manager = user_with_role("manager")
    now = timezone.now()
    for days in range(0, 400, 3):
        MetricFactory(owner=manager, name="a", value=days % 17 - 4.5, timestamp=now - timedelta(days=days, hours=days))
        MetricFactory(name="b", value=days % 5, timestamp=now - timedelta(days=days))
    kpis = [
        KPIFactory(metric_name=name, period=period, aggregation=aggregation)
        for name in ("a", "b")
        for period in ("day", "week", "month", "quarter", "year")
        for aggregation in ("sum", "avg", "min", "max", "count", "last")
    ]
    zone = ZoneInfo(tz)
    batched = kpi_recent_series(user=manager, kpis=kpis, tz=zone, now=now)
    for kpi in kpis:
        single = kpi_series(user=manager, kpi=kpi, tz=zone, start=None, end=None)
        assert batched[kpi.pk] == single, (kpi.metric_name, kpi.period, kpi.aggregation)


def test_summary_compares_a_running_period_with_the_previous_one_to_date(user_with_role):
    manager = user_with_role("manager")
    kpi = KPIFactory(metric_name="rev", period="month", aggregation="sum", target=100.0)

    def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
        return datetime(2026, month, day, hour, minute, tzinfo=UTC)

    for moment, value in [
        (at(11, 1, 12), 50.0),
        (at(11, 2, 9, 59), 30.0),
        (at(11, 2, 10), 1000.0),  # the cut is exclusive
        (at(11, 20), 500.0),
        (at(12, 1, 8), 40.0),
        (at(12, 2, 9), 20.0),
    ]:
        MetricFactory(owner=manager, name="rev", value=value, timestamp=moment)

    (row,) = kpi_summary(user=manager, tz=ZoneInfo("UTC"), now=at(12, 2, 10))

    assert row.kpi == kpi
    assert (row.current.period_start, row.current.value) == (at(12, 1), 60.0)
    assert (row.previous.period_start, row.previous.value) == (at(11, 1), 1580.0)
    assert row.previous_to_date == PeriodToDate(period_start=at(11, 1), end=at(11, 2, 10), value=80.0)
    assert row.change_to_date_pct == pytest.approx(-25.0)
    assert row.change_pct == pytest.approx((60 - 1580) / 1580 * 100)
    assert not row.previous_is_whole


@pytest.mark.parametrize(
    ("now", "period", "cut"),
    [
        # Late on the 31st: November has no Nov 31, so the cut is the whole of November.
        (datetime(2026, 12, 31, 18, tzinfo=UTC), "month", datetime(2026, 12, 1, tzinfo=UTC)),
        (datetime(2026, 3, 30, 6, tzinfo=UTC), "month", datetime(2026, 3, 1, tzinfo=UTC)),
        (datetime(2026, 3, 3, 6, tzinfo=UTC), "month", datetime(2026, 2, 3, 6, tzinfo=UTC)),
        (datetime(2026, 12, 2, 10, tzinfo=UTC), "week", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        (datetime(2026, 12, 2, 10, tzinfo=UTC), "day", datetime(2026, 12, 1, 10, tzinfo=UTC)),
    ],
)
def test_to_date_cut_never_passes_the_previous_period(now, period, cut):
    current_start = bucket_start(now, period, ZoneInfo("UTC"))
    previous_start = period_shift(current_start, period, -1)
    assert to_date_cut(now=now, current_start=current_start, previous_start=previous_start) == cut


def test_to_date_cut_in_wall_clock_time_across_a_clock_change():
    # Berlin moves its clocks forward on Sunday, Mar 29, 2026: noon that day is 6 days 11 hours after Monday's
    # midnight, yet it compares with noon of the previous Sunday, as a wall clock reads.
    zone = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 3, 29, 12, tzinfo=zone)
    current_start = bucket_start(now, "week", zone)
    cut = to_date_cut(now=now, current_start=current_start, previous_start=period_shift(current_start, "week", -1))
    assert cut.astimezone(zone).replace(tzinfo=None) == datetime(2026, 3, 22, 12)
