"""Headless Chromium through the staff pages: the KPI overview shows the API's numbers with one chart mark per period,
the explorer follows a change of bucket, a CSV imports through the admin, and nobody sees numbers they may not see.
Every page is checked for console errors, failed requests and CSP violations."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserWithRolesFactory
from core.tests.browser import artifacts_dir, assert_clean, login, open_page
from dashboard.metrics.models import Metric
from dashboard.staff.formatting import format_number
from dashboard.tests.factories import KPIFactory, MetricFactory
from dashboard.timeseries import bucket_start, period_shift

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# The seeded roles come from a data migration, which a transactional test's flush removes. serialized_rollback cannot
# bring them back here: inside Playwright's event loop Django hands out another connection object, one without the
# serialized contents. So the roles are re-created with the very grants of that migration.
ROLE_GRANTS = import_module("dashboard.migrations.0002_grant_role_permissions").GRANTS

UTC = ZoneInfo("UTC")
OTHERS_VALUE = 424_242.0


def _moment(period: str, periods_back: int):
    """A moment inside the *period* that lies *periods_back* before the current one (the current one: so far)."""
    now = timezone.now()
    start = bucket_start(now, period, UTC)
    if periods_back == 0:
        return start + (now - start) / 2
    return period_shift(start, period, -periods_back) + (period_shift(start, period, 1) - start) / 3


@pytest.fixture
def world(chromium_browser):
    """A manager (sees everything), an analyst (own metrics only) and another user's big numbers; three KPIs."""
    for role in ("analyst", "manager"):
        RoleFactory(name=role, permissions=[f"dashboard.{codename}" for codename in ROLE_GRANTS[role]])
    manager = UserWithRolesFactory(roles=["manager"], is_staff=True)
    analyst = UserWithRolesFactory(roles=["analyst"], is_staff=True)
    other = UserWithRolesFactory(roles=["analyst"])
    for back in range(5):
        for day in range(3):
            moment = _moment("month", back) + timedelta(hours=day)
            MetricFactory(owner=analyst, name="revenue", value=100.0 + 10 * back + day, timestamp=moment)
            MetricFactory(owner=manager, name="latency", value=200.0 - 5 * back + day, timestamp=moment)
        MetricFactory(owner=other, name="revenue", value=OTHERS_VALUE, timestamp=_moment("month", back))
    MetricFactory(owner=other, name="others-only", value=OTHERS_VALUE, timestamp=_moment("month", 0))
    kpis = [
        KPIFactory(name="Revenue", metric_name="revenue", period="month", target=1000.0, unit="€"),
        KPIFactory(name="Latency", metric_name="latency", aggregation="avg", direction="down", target=190.0, unit="ms"),
        KPIFactory(name="Weekly revenue", metric_name="revenue", period="week", target=None),
    ]
    return {"manager": manager, "analyst": analyst, "other": other, "kpis": kpis}


def _assert_cards_match_api(page, user, kpis, client_for) -> None:
    api = client_for(user)
    summary = {row["kpi"]["id"]: row for row in api.get("/api/v1/dashboard/summary").json()}
    assert page.locator("article.kpi-card").count() == len(kpis)
    for kpi in kpis:
        row = summary[kpi.pk]
        card = page.locator(f"#kpi-{kpi.pk}")
        value = card.locator(".kpi-value")
        expected = row["current"]["value"]
        assert value.get_attribute("data-value") == ("" if expected is None else repr(expected)), kpi.name
        assert value.inner_text() == format_number(expected, kpi.unit)
        assert card.get_attribute("data-status") == row["status"]
        change = card.locator(".kpi-change").get_attribute("data-value")
        whole = row["previous_to_date"]["end"] == row["current"]["period_start"]
        shown = row["change_pct"] if whole else row["change_to_date_pct"]  # to date while the period runs
        assert change == ("" if shown is None else repr(shown))

        series = api.get(f"/api/v1/dashboard/kpis/{kpi.pk}/series").json()["points"]
        chart = card.locator("svg.chart")
        assert chart.count() == 1
        assert chart.locator("circle.point").count() == len(series), f"{kpi.name}: one mark per period"
        marks = chart.locator("circle.point").evaluate_all("cs => cs.map(c => Number(c.dataset.value))")
        assert marks == [point["value"] for point in series]
        assert chart.locator("title").first.text_content() == f"{kpi.name} per {kpi.period}"
        assert chart.locator("desc").count() == 1
        has_target = chart.locator("line.target").count() == 1
        assert has_target is (kpi.target is not None and bool(series))  # an empty chart just says "No data"
        # The numbers are in the page as text for screen readers.
        assert card.locator("table.visually-hidden tbody tr").count() == max(len(series), 1)


def test_kpi_overview_shows_the_api_numbers_with_a_mark_per_period(live_server, page, world, client_for):
    manager = world["manager"]
    login(page, live_server, manager.email)
    page.locator("#staff-dashboards").get_by_role("link", name="KPI overview").click()
    page.wait_for_load_state("load")
    assert page.url == f"{live_server.url}/admin/dashboard/kpi/overview/"
    assert_clean(page, "KPI overview")
    _assert_cards_match_api(page, manager, world["kpis"], client_for)
    # The manager sees everyone's metrics: the other user's revenue is in the sum.
    assert str(int(OTHERS_VALUE))[:3] in page.locator(f"#kpi-{world['kpis'][0].pk} .kpi-value").inner_text()
    page.screenshot(path=str(artifacts_dir() / "staff_kpi_overview.png"), full_page=True)

    page.locator(f"#kpi-{world['kpis'][1].pk} h2 a").click()
    page.wait_for_load_state("load")
    assert_clean(page, "KPI detail")
    series = client_for(manager).get(f"/api/v1/dashboard/kpis/{world['kpis'][1].pk}/series").json()["points"]
    assert page.locator("#kpi-chart circle.point").count() == len(series) == 5
    page.get_by_role("link", name="Last 24 months").click()
    page.wait_for_load_state("load")
    assert_clean(page, "KPI detail, 24 months")
    assert page.locator("#kpi-chart circle.point").count() == 5


def test_metric_explorer_follows_a_change_of_bucket(live_server, page, world, client_for):
    manager = world["manager"]
    login(page, live_server, manager.email)
    open_page(page, f"{live_server.url}/admin/dashboard/metric/", "metric changelist")
    page.locator(".object-tools").get_by_role("link", name="Explore").click()
    page.wait_for_load_state("load")
    assert_clean(page, "metric explorer")

    api = client_for(manager)
    for bucket in ("month", "week", "day"):
        page.select_option("#id_name", "latency")
        page.select_option("#id_bucket", bucket)
        page.select_option("#id_agg", "avg")
        page.fill("#id_from", "")
        with page.expect_navigation(wait_until="load"):
            page.click("#explorer-submit")
        assert_clean(page, f"metric explorer by {bucket}")
        assert f"bucket={bucket}" in page.url
        series = api.get(
            "/api/v1/dashboard/metrics/series", {"name": "latency", "bucket": bucket, "agg": "avg"}
        ).json()["points"]
        assert page.locator("#metric-chart circle.point").count() == len(series)
        assert page.locator("#series-table tbody tr").count() == len(series)
        values = page.locator("#series-table tbody td[data-value]").evaluate_all(
            "cells => cells.map(c => Number(c.dataset.value))"
        )
        assert values == [point["value"] for point in series]
        if bucket == "week":
            page.screenshot(path=str(artifacts_dir() / "staff_metric_explorer.png"), full_page=True)
    assert len(series) >= 5  # by day: at least one bucket in each of five months


def test_import_csv_through_the_admin_page(live_server, page, world):
    analyst = world["analyst"]
    login(page, live_server, analyst.email)
    open_page(page, f"{live_server.url}/admin/dashboard/metric/", "metric changelist")
    page.locator("#import-metrics-link").click()
    page.wait_for_load_state("load")
    assert_clean(page, "import page")

    csv = b"name,value,timestamp\nvisits,3,2026-01-01T10:00:00\nvisits,4,2026-01-02\nvisits,5.5,2026-01-03\n"
    page.set_input_files("#id_file", {"name": "visits.csv", "mimeType": "text/csv", "buffer": csv})
    page.select_option("#id_tz", "Europe/Berlin")
    with page.expect_navigation(wait_until="load"):
        page.click("#import-form input[type=submit]")
    assert_clean(page, "import result")
    assert page.locator("#import-result h2").inner_text() == "Imported 3 rows from visits.csv"
    assert sorted(Metric.objects.filter(owner=analyst, name="visits").values_list("value", flat=True)) == [3, 4, 5.5]
    page.screenshot(path=str(artifacts_dir() / "staff_import_result.png"), full_page=True)

    bad = b"name,value,timestamp\nvisits,1,2026-02-01\nvisits,oops,2026-02-02\n,2,2026-02-03\n"
    page.set_input_files("#id_file", {"name": "bad.csv", "mimeType": "text/csv", "buffer": bad})
    with page.expect_navigation(wait_until="load"):
        page.click("#import-form input[type=submit]")
    assert_clean(page, "import errors")
    assert "2 errors" in page.locator("#import-result h2").inner_text()
    rows = page.locator("#import-errors tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("td").all_inner_texts() == ["3", "value", "Not a finite number: 'oops'."]
    assert rows.nth(1).locator("td").first.inner_text() == "4"
    assert Metric.objects.filter(owner=analyst).exclude(upload=None).count() == 3


def test_staff_without_view_all_metrics_sees_only_their_own_numbers(live_server, page, world, client_for):
    analyst = world["analyst"]
    login(page, live_server, analyst.email)
    open_page(page, f"{live_server.url}/admin/dashboard/kpi/overview/", "KPI overview as analyst")
    _assert_cards_match_api(page, analyst, world["kpis"], client_for)
    others = str(int(OTHERS_VALUE))
    content = page.content()
    assert others not in content
    assert f"{others[:3]},{others[3:]}" not in content
    # The manager's latency metrics are not the analyst's: no data for that KPI.
    assert page.locator(f"#kpi-{world['kpis'][1].pk}").get_attribute("data-status") == "no_data"

    open_page(page, f"{live_server.url}/admin/dashboard/metric/explorer/", "metric explorer as analyst")
    options = page.locator("#id_name option").evaluate_all("options => options.map(o => o.value)")
    assert options == ["revenue"]
    open_page(
        page,
        f"{live_server.url}/admin/dashboard/metric/explorer/?name=revenue&bucket=month&agg=max&from=",
        "explorer, max by month",
    )
    values = page.locator("#series-table tbody td[data-value]").evaluate_all("cells => cells.map(c => c.dataset.value)")
    assert values
    assert all(float(value) < 200 for value in values)
    page.screenshot(path=str(artifacts_dir() / "staff_overview_analyst.png"), full_page=True)
