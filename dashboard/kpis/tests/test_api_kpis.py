"""KPI CRUD, KPI series and the summary through HTTP."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from dashboard.kpis.models import KPI
from dashboard.tests.factories import KPIFactory, MetricFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/dashboard/kpis"
SUMMARY = "/api/v1/dashboard/summary"
NEW_KPI = {
    "name": "Monthly revenue",
    "metric_name": "revenue",
    "aggregation": "sum",
    "period": "month",
    "target": 1000,
    "direction": "up",
    "unit": "EUR",
}


@pytest.fixture
def manager(user_with_role):
    return user_with_role("manager")


def test_manager_creates_kpi_with_slug_and_defaults(manager, client_for):
    response = client_for(manager).post(URL, {**NEW_KPI, "slug": "ignored", "created_by": 999}, format="json")
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["slug"] == "monthly-revenue"
    assert body["created_by"] == manager.pk
    assert body["warning_threshold_pct"] == 10
    assert body["description"] == ""


def test_kpi_names_are_unique_and_slugs_stay_unique(manager, client_for):
    client = client_for(manager)
    client.post(URL, NEW_KPI, format="json")
    duplicate = client.post(URL, {**NEW_KPI, "name": "monthly REVENUE"}, format="json")
    assert duplicate.status_code == HTTPStatus.BAD_REQUEST
    assert "name" in duplicate.json()["errors"]
    similar = client.post(URL, {**NEW_KPI, "name": "Monthly: revenue"}, format="json")
    assert similar.json()["slug"] == "monthly-revenue-2"
    renamed = client.patch(f"{URL}/{similar.json()['id']}", {"name": "MONTHLY revenue"}, format="json")
    assert renamed.status_code == HTTPStatus.BAD_REQUEST
    assert renamed.json()["errors"]["name"] == ["A KPI with this name already exists."]


def test_kpi_name_uniqueness_is_the_databases_whoever_writes():
    from django.db import IntegrityError, transaction

    KPIFactory(name="Churn")
    with pytest.raises(IntegrityError), transaction.atomic():
        KPIFactory(name="cHURN")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"aggregation": "median"}, "aggregation"),
        ({"period": "fortnight"}, "period"),
        ({"direction": "sideways"}, "direction"),
        ({"target": "NaN"}, "target"),
        ({"warning_threshold_pct": -1}, "warning_threshold_pct"),
        ({"name": ""}, "name"),
        ({"metric_name": "x" * 256}, "metric_name"),
    ],
)
def test_bad_kpi_input(manager, client_for, change, field):
    response = client_for(manager).post(URL, {**NEW_KPI, **change}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()["errors"]


def test_kpi_permissions(user_with_role, client_for):
    kpi = KPIFactory()
    viewer = client_for(user_with_role("viewer"))
    assert viewer.get(URL).status_code == HTTPStatus.OK
    assert viewer.get(f"{URL}/{kpi.pk}").status_code == HTTPStatus.OK
    assert viewer.post(URL, NEW_KPI, format="json").status_code == HTTPStatus.FORBIDDEN
    assert viewer.patch(f"{URL}/{kpi.pk}", {"target": 5}, format="json").status_code == HTTPStatus.FORBIDDEN
    assert viewer.delete(f"{URL}/{kpi.pk}").status_code == HTTPStatus.FORBIDDEN
    nobody = client_for(user_with_role())
    assert nobody.get(URL).status_code == HTTPStatus.FORBIDDEN
    assert nobody.get(SUMMARY).status_code == HTTPStatus.FORBIDDEN


def test_patch_renames_and_reslugs_and_delete(manager, client_for):
    kpi = KPIFactory(name="Old", slug="old")
    client = client_for(manager)
    response = client.patch(f"{URL}/{kpi.pk}/", {"name": "New name", "target": None}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["slug"] == "new-name"
    assert response.json()["target"] is None
    assert client.delete(f"{URL}/{kpi.pk}").status_code == HTTPStatus.NO_CONTENT
    assert not KPI.objects.exists()


def test_kpi_list_is_ordered_and_bounded(manager, client_for, django_assert_num_queries):
    for name in ("b", "a", "c"):
        KPIFactory(name=name, created_by=manager)
    client = client_for(manager)
    client.get(URL)  # warms the caller's cached access profile (accounts.authz)
    with django_assert_num_queries(3) as few:
        names = [row["name"] for row in client.get(URL).json()["results"]]
    assert names == ["a", "b", "c"]
    KPIFactory.create_batch(20, created_by=manager)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(URL)


def test_kpi_series_default_is_last_twelve_periods_over_visible_metrics(user_with_role, client_for):
    analyst = user_with_role("analyst")
    kpi = KPIFactory(metric_name="signups", period="month", aggregation="sum", target=10)
    now = timezone.now()
    MetricFactory(owner=analyst, name="signups", value=3, timestamp=now)
    MetricFactory(owner=analyst, name="signups", value=4, timestamp=now)
    MetricFactory(owner=analyst, name="signups", value=100, timestamp=now - timedelta(days=500))
    MetricFactory(name="signups", value=1000, timestamp=now)  # someone else's
    body = client_for(analyst).get(f"{URL}/{kpi.pk}/series").json()
    assert body["kpi"] == {"id": kpi.pk, "name": kpi.name, "unit": "", "direction": "up", "target": 10.0}
    assert [p["value"] for p in body["points"]] == [7.0]
    assert body["points"][0]["target"] == 10.0
    assert body["points"][0]["t"].startswith(now.strftime("%Y-%m-01T00:00:00"))


def test_kpi_series_range_and_tz(user_with_role, client_for):
    analyst = user_with_role("analyst")
    kpi = KPIFactory(metric_name="m", period="day", aggregation="max")
    MetricFactory(owner=analyst, name="m", value=1, timestamp=datetime(2026, 5, 1, 22, 30, tzinfo=UTC))
    MetricFactory(owner=analyst, name="m", value=2, timestamp=datetime(2026, 5, 2, 10, tzinfo=UTC))
    body = (
        client_for(analyst)
        .get(f"{URL}/{kpi.pk}/series", {"from": "2026-05-01", "to": "2026-05-03", "tz": "Europe/Berlin"})
        .json()
    )
    # 22:30 UTC on May 1 is 00:30 on May 2 in Berlin: both fall on May 2.
    assert body["points"] == [{"t": "2026-05-02T00:00:00+02:00", "value": 2.0, "target": 100.0}]


def test_kpi_series_bad_tz(manager, client_for):
    kpi = KPIFactory()
    response = client_for(manager).get(f"{URL}/{kpi.pk}/series", {"tz": "Atlantis"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "tz" in response.json()["errors"]


def test_summary_current_previous_and_status(user_with_role, client_for):
    analyst = user_with_role("analyst")
    KPIFactory(name="Revenue", metric_name="rev", period="month", aggregation="sum", target=100)
    KPIFactory(name="Empty", metric_name="nothing", period="day", target=5)
    KPIFactory(name="No target", metric_name="rev", period="month", target=None)
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    previous_month = (month_start - timedelta(days=1)).replace(day=1)
    MetricFactory(owner=analyst, name="rev", value=95, timestamp=month_start)
    MetricFactory(owner=analyst, name="rev", value=50, timestamp=previous_month)
    MetricFactory(name="rev", value=1000, timestamp=month_start)  # not visible to the analyst
    rows = {row["kpi"]["name"]: row for row in client_for(analyst).get(SUMMARY).json()}
    revenue = rows["Revenue"]
    assert revenue["current"] == {"period_start": month_start.isoformat(), "value": 95.0}
    assert revenue["previous"] == {"period_start": previous_month.isoformat(), "value": 50.0}
    assert revenue["change_pct"] == pytest.approx(90.0)
    to_date = revenue["previous_to_date"]
    assert to_date["period_start"] == previous_month.isoformat()
    assert to_date["value"] == 50.0  # the previous month's first instant is before any cut
    assert previous_month < datetime.fromisoformat(to_date["end"]) <= month_start
    assert revenue["change_to_date_pct"] == pytest.approx(90.0)
    assert rows["Empty"]["change_to_date_pct"] is None
    assert revenue["progress_pct"] == pytest.approx(95.0)
    assert revenue["status"] == "at_risk"
    assert rows["Empty"]["status"] == "no_data"
    assert rows["Empty"]["change_pct"] is None
    assert rows["No target"]["status"] == "no_target"
    assert rows["No target"]["progress_pct"] is None


def test_summary_query_count_does_not_grow_with_kpis(manager, client_for, django_assert_num_queries):
    client = client_for(manager)
    for period in ("day", "week", "month", "quarter", "year"):
        KPIFactory(period=period, aggregation="last")
        KPIFactory(period=period, aggregation="sum")
    client.get(SUMMARY)  # warms the caller's cached access profile (accounts.authz)
    # Auth, the KPIs, and for every period, its values and its previous period to date together: one query for the
    # aggregates and one for ``last``.
    with django_assert_num_queries(4) as few:
        client.get(SUMMARY)
    for period in ("day", "week", "month", "quarter", "year"):
        KPIFactory.create_batch(4, period=period, aggregation="avg")
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(SUMMARY).json()) == 30


def test_summary_bad_tz(manager, client_for):
    response = client_for(manager).get(SUMMARY, {"tz": "Not/AZone"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"]["tz"]


def test_kpi_series_query_count_does_not_grow_with_data(manager, client_for, django_assert_num_queries):
    kpi = KPIFactory(metric_name="m", period="day", aggregation="last")
    client = client_for(manager)
    MetricFactory.create_batch(3, owner=manager, name="m", timestamp=timezone.now())
    client.get(f"{URL}/{kpi.pk}/series")  # warms the caller's cached access profile (accounts.authz)
    with django_assert_num_queries(3) as few:
        client.get(f"{URL}/{kpi.pk}/series")
    for days in range(1, 11):
        MetricFactory.create_batch(5, owner=manager, name="m", timestamp=timezone.now() - timedelta(days=days))
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(f"{URL}/{kpi.pk}/series").json()["points"]) == 11
