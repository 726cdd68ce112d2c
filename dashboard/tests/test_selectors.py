"""Selectors that batch work agree with their one-at-a-time counterparts."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dashboard.selectors import kpi_recent_series, kpi_series
from dashboard.tests.factories import KPIFactory, MetricFactory

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
