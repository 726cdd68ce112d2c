"""The fast output path of read-only serializers answers exactly what DRF itself answers."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone
from rest_framework import serializers

from accounts.api.serializers import MeOutputSerializer, UserOutputSerializer
from accounts.models import User
from accounts.tests.factories import RoleFactory, UserFactory
from core.serializers import FastOutputMixin
from dashboard.metrics.api.serializers import MetricSerializer
from dashboard.metrics.models import Metric
from dashboard.tests.factories import MetricFactory

pytestmark = pytest.mark.django_db


def drf(serializer, instance) -> dict:
    return super(FastOutputMixin, serializer).to_representation(instance)


@pytest.fixture
def objects():
    user = UserFactory(full_name="", last_login=None)
    other = UserFactory(full_name="Ann Ö", last_login=datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC))
    other.groups.add(RoleFactory(name="b"), RoleFactory(name="a", permissions=["dashboard.view_metric"]))
    metrics = [
        MetricFactory(owner=user, value=1.5, timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        MetricFactory(owner=other, value=-0.0, timestamp=datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)),
    ]
    return {"users": [user, other], "metrics": metrics}


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns"])
def test_fast_output_equals_drfs(objects, zone):
    with timezone.override(zone):
        for serializer_class, instances in (
            (MetricSerializer, Metric.objects.filter(pk__in=[m.pk for m in objects["metrics"]])),
            (UserOutputSerializer, objects["users"]),
            (MeOutputSerializer, objects["users"]),
        ):
            for instance in instances:
                serializer = serializer_class()
                fast = serializer.to_representation(instance)
                assert fast == drf(serializer, instance)
                assert list(fast) == list(drf(serializer, instance))  # same keys, same order
                assert type(serializer)._fast_plan  # the fast path was taken


def test_a_field_it_does_not_know_falls_back_to_drf(objects):
    class WithSlug(FastOutputMixin, serializers.ModelSerializer):
        owner = serializers.SlugRelatedField[User](slug_field="email", read_only=True)

        class Meta:
            model = Metric
            fields = ["id", "owner"]

    metric = objects["metrics"][0]
    assert WithSlug().to_representation(metric) == {"id": metric.pk, "owner": metric.owner.email}
    assert WithSlug._fast_plan == ()


def test_many_uses_the_plan_too(objects):
    data = MetricSerializer(Metric.objects.order_by("pk"), many=True).data
    assert [row["id"] for row in data] == sorted(m.pk for m in objects["metrics"])
    assert data[0]["timestamp"] == "2026-01-02T03:04:05Z"
    assert data[1]["timestamp"] == "2026-06-30T23:59:59.999999Z"


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_many_equals_drf_item_by_item(objects, zone):
    with timezone.override(zone):
        for serializer_class, instances in (
            (MetricSerializer, list(Metric.objects.order_by("pk"))),
            (UserOutputSerializer, objects["users"]),
        ):
            many = serializer_class(instances, many=True)
            assert type(many).__name__ == "FastListSerializer"
            assert isinstance(many, serializers.ListSerializer)  # what many=True makes, whatever its static type
            assert many.data == [drf(serializer_class(), instance) for instance in instances]


def test_rows_render_like_instances(objects):
    columns = MetricSerializer.row_columns()
    assert columns == ("id", "name", "value", "timestamp", "owner_id", "upload_id")
    rows = list(Metric.objects.order_by("pk").values_list(*columns, named=True))
    assert MetricSerializer(rows, many=True).data == MetricSerializer(Metric.objects.order_by("pk"), many=True).data
    assert MeOutputSerializer.row_columns() is None  # method fields need the instance
