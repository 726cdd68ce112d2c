"""factory-boy factories for dashboard data."""

from datetime import UTC, datetime

import factory

from accounts.tests.factories import UserFactory
from dashboard.models import KPI, Metric


class MetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Metric

    name = "revenue"
    value = factory.Sequence(lambda n: float(n))
    timestamp = factory.Sequence(lambda n: datetime(2026, 1, 1, tzinfo=UTC).replace(hour=n % 24))
    owner = factory.SubFactory(UserFactory)


class KPIFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KPI

    name = factory.Sequence(lambda n: f"KPI {n}")
    slug = factory.Sequence(lambda n: f"kpi-{n}")
    metric_name = "revenue"
    aggregation = "sum"
    period = "month"
    target = 100.0
    direction = "up"
