"""The Django admin for dashboard data respects visibility and keeps the changelist's queries bounded."""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission

from dashboard.kpis.models import KPI
from dashboard.tests.factories import KPIFactory, MetricFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/dashboard/metric/"


def test_staff_without_view_all_sees_only_own_metrics(staff, client):
    analyst = staff("analyst")
    mine = MetricFactory(owner=analyst, name="mine-metric")
    theirs = MetricFactory(name="their-metric")
    client.force_login(analyst)
    page = client.get(CHANGELIST).content.decode()
    assert "mine-metric" in page
    assert "their-metric" not in page
    assert theirs.owner.email not in page
    assert client.get(f"{CHANGELIST}{theirs.pk}/change/").status_code == HTTPStatus.FOUND
    assert client.get(f"{CHANGELIST}{mine.pk}/change/").status_code == HTTPStatus.OK


def test_manager_sees_all_but_changes_only_own(staff, client):
    manager = staff("manager")
    theirs = MetricFactory(name="their-metric")
    client.force_login(manager)
    assert "their-metric" in client.get(CHANGELIST).content.decode()
    response = client.post(f"{CHANGELIST}{theirs.pk}/change/", {"name": "hijack", "value": 1})
    assert response.status_code == HTTPStatus.FORBIDDEN
    theirs.refresh_from_db()
    assert theirs.name == "their-metric"


def test_changelists_show_values_in_full_with_thousands_separators(staff, client):
    manager = staff("manager")
    MetricFactory(owner=manager, name="big", value=1234567.0)
    MetricFactory(owner=manager, name="fine", value=1234.5678)
    KPIFactory(name="Revenue", target=130000.0)
    client.force_login(manager)
    page = client.get(CHANGELIST).content.decode()
    assert 'class="field-display_value">1,234,567</td>' in page
    assert 'class="field-display_value">1,234.5678</td>' in page
    kpis = client.get("/admin/dashboard/kpi/").content.decode()
    assert 'class="field-display_target">130,000</td>' in kpis


def test_changelist_queries_do_not_grow_with_rows(staff, client, django_assert_max_num_queries):
    manager = staff("manager")
    client.force_login(manager)
    MetricFactory.create_batch(5)
    with django_assert_max_num_queries(20) as few:
        assert client.get(CHANGELIST).status_code == HTTPStatus.OK
    MetricFactory.create_batch(60)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(CHANGELIST)


def test_admin_creates_metric_for_self_and_kpi_with_slug(staff, client):
    manager = staff("manager")
    manager.user_permissions.add(Permission.objects.get(codename="add_kpi"))
    client.force_login(manager)
    response = client.post(
        "/admin/dashboard/metric/add/",
        {"name": "admin-made", "value": "2.5", "timestamp_0": "2026-01-01", "timestamp_1": "10:00:00"},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert manager.metrics.get().name == "admin-made"
    form = {
        "name": "Admin KPI",
        "metric_name": "admin-made",
        "aggregation": "sum",
        "period": "month",
        "direction": "up",
        "warning_threshold_pct": "10",
        "description": "",
        "unit": "",
        "target": "",
    }
    response = client.post("/admin/dashboard/kpi/add/", form)
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:2000]
    kpi = KPI.objects.get()
    assert (kpi.slug, kpi.created_by) == ("admin-kpi", manager)
    # The admin cannot bypass the rule the API keeps: names are unique whatever their case.
    duplicate = client.post("/admin/dashboard/kpi/add/", {**form, "name": "ADMIN kpi"})
    assert duplicate.status_code == HTTPStatus.OK
    assert "A KPI with this name already exists." in duplicate.content.decode()
    assert KPI.objects.count() == 1
