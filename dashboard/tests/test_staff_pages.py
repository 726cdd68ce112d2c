"""Staff pages in the admin (Django test client): permissions, visibility, the API's numbers, the import page."""

import re
from datetime import datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dashboard.kpis.models import KPI
from dashboard.metrics.models import Metric
from dashboard.staff import pages
from dashboard.staff.formatting import format_change, format_number
from dashboard.tests.factories import KPIFactory, MetricFactory
from dashboard.timeseries import bucket_start, period_shift
from dashboard.uploads.models import Upload

pytestmark = pytest.mark.django_db

OVERVIEW = "/admin/dashboard/kpi/overview/"
EXPLORER = "/admin/dashboard/metric/explorer/"
IMPORT = "/admin/dashboard/metric/import/"
SUMMARY_API = "/api/v1/dashboard/summary"
CORPUS = Path(__file__).parents[1] / "uploads" / "tests" / "upload_corpus"
UTC = ZoneInfo("UTC")


def chart_url(kpi) -> str:
    return f"/admin/dashboard/kpi/{kpi.pk}/chart/"


def _in_current_month(offset_months: int = 0):
    """A moment inside the month *offset_months* from now (0: the current one, so far), whatever today is."""
    now = timezone.now()
    start = bucket_start(now, "month", UTC)
    if offset_months == 0:
        return start + (now - start) / 2
    return period_shift(start, "month", offset_months) + timedelta(days=3)


@pytest.fixture
def data(staff):
    """A manager, an analyst and someone else's metrics; two KPIs on revenue."""
    manager, analyst = staff("manager"), staff("analyst")
    other = staff("analyst")
    for months_back, value in ((0, 40.0), (-1, 100.0), (-2, 80.0)):
        MetricFactory(owner=analyst, name="revenue", value=value, timestamp=_in_current_month(months_back))
        MetricFactory(owner=other, name="revenue", value=777_001.0, timestamp=_in_current_month(months_back))
    MetricFactory(owner=other, name="secret-metric", value=1.0, timestamp=_in_current_month())
    monthly = KPIFactory(name="Revenue", metric_name="revenue", period="month", target=50.0, unit="€")
    untargeted = KPIFactory(name="Untargeted", metric_name="revenue", period="month", target=None)
    return {"manager": manager, "analyst": analyst, "other": other, "kpis": [monthly, untargeted]}


def _html(response) -> str:
    return response.content.decode()


def _found(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    """The first match of *pattern* in *text*, which must have one."""
    match = re.search(pattern, text, flags)
    assert match is not None, pattern
    return match


def _card_value(html: str, kpi) -> str:
    card = _found(rf'<article[^>]*id="kpi-{kpi.pk}".*?</article>', html, re.S).group(0)
    return _found(r'class="kpi-value" data-value="([^"]*)"', card).group(1)


def _chart_marks(html: str, chart_id: str) -> int:
    svg = _found(rf'<svg[^>]*id="{chart_id}".*?</svg>', html, re.S).group(0)
    return len(re.findall(r'<circle class="point', svg))


# --- Access -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [OVERVIEW, EXPLORER, IMPORT, "chart"])
def test_anonymous_and_non_staff_are_sent_to_the_login(client, user_with_role, url):
    kpi = KPIFactory()
    url = chart_url(kpi) if url == "chart" else url
    response = client.get(url)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/admin/login/")
    client.force_login(user_with_role("manager"))  # every permission, but not staff
    assert client.get(url).status_code == HTTPStatus.FOUND


@pytest.mark.parametrize(
    ("url", "allowed_role", "denied_role"),
    [
        (OVERVIEW, "viewer", "user_admin"),
        ("chart", "viewer", "user_admin"),
        (EXPLORER, "viewer", "user_admin"),
        (IMPORT, "analyst", "viewer"),
    ],
)
def test_pages_need_their_model_permission(client, staff, url, allowed_role, denied_role):
    kpi = KPIFactory()
    url = chart_url(kpi) if url == "chart" else url
    client.force_login(staff(denied_role))
    assert client.get(url).status_code == HTTPStatus.FORBIDDEN
    client.force_login(staff(allowed_role))
    assert client.get(url).status_code == HTTPStatus.OK


def test_pages_are_linked_from_the_index_and_the_changelists(client, staff):
    kpi = KPIFactory()
    client.force_login(staff("analyst"))
    index = _html(client.get("/admin/"))
    for url in (OVERVIEW, EXPLORER, IMPORT):
        assert f'href="{url}"' in index
    assert f'href="{IMPORT}"' in _html(client.get("/admin/dashboard/metric/"))
    assert f'href="{OVERVIEW}"' in _html(client.get("/admin/dashboard/kpi/"))
    assert f'href="{chart_url(kpi)}"' in _html(client.get(f"/admin/dashboard/kpi/{kpi.pk}/change/"))

    client.force_login(staff("viewer"))
    index = _html(client.get("/admin/"))
    assert f'href="{OVERVIEW}"' in index
    assert f'href="{IMPORT}"' not in index
    assert f'href="{IMPORT}"' not in _html(client.get("/admin/dashboard/metric/"))


@pytest.mark.parametrize("url", [OVERVIEW, EXPLORER, IMPORT, "chart"])
def test_pages_have_no_inline_styles_or_scripts(client, data, url):
    client.force_login(data["manager"])
    url = chart_url(data["kpis"][0]) if url == "chart" else url
    html = _html(client.get(url))
    assert "<style" not in html
    assert not re.search(r'\sstyle="', html)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "/static/css/staff.css" in html


# --- KPI overview and detail ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "analyst"])
def test_overview_cards_show_what_the_api_gives_the_same_user(client, client_for, data, role):
    user = data[role]
    api = {row["kpi"]["id"]: row for row in client_for(user).get(SUMMARY_API).json()}
    client.force_login(user)
    response = client.get(OVERVIEW)
    html = _html(response)
    assert response.status_code == HTTPStatus.OK
    for kpi in data["kpis"]:
        row = api[kpi.pk]
        assert _card_value(html, kpi) == repr(row["current"]["value"])
        assert f'data-status="{row["status"]}"' in html
        assert format_number(row["current"]["value"], kpi.unit) in html
        series = client_for(user).get(f"/api/v1/dashboard/kpis/{kpi.pk}/series").json()["points"]
        assert _chart_marks(html, f"kpi-{kpi.pk}-chart") == len(series) == 3
    assert ("777," in html) is (role == "manager")  # the other user's numbers


def test_overview_statuses_and_time_zone(client, client_for, data):
    client.force_login(data["analyst"])
    cards = {card.kpi.name: card for card in client.get(OVERVIEW).context["cards"]}
    assert cards["Revenue"].status == "off_track"  # 40 so far against 50, more than 10% short
    # While the month runs, the card compares with last month to date (nothing yet by then: no change to show).
    row = next(row for row in client_for(data["analyst"]).get(SUMMARY_API).json() if row["kpi"]["name"] == "Revenue")
    whole = datetime.fromisoformat(row["previous_to_date"]["end"]) >= datetime.fromisoformat(
        row["current"]["period_start"]
    )
    shown = row["change_pct"] if whole else row["change_to_date_pct"]
    assert cards["Revenue"].change == shown
    assert cards["Revenue"].change_basis == ("vs last month" if whole else "vs last month to date")
    assert cards["Untargeted"].status == "no_target"
    response = client.get(OVERVIEW, {"tz": "Asia/Tokyo"})
    assert response.status_code == HTTPStatus.OK
    assert "?tz=Asia/Tokyo" in _html(response)
    response = client.get(OVERVIEW, {"tz": "Mars/Olympus"})
    assert response.status_code == HTTPStatus.OK
    assert response.context["cards"] == []
    assert "errornote" in _html(response)


def test_cards_show_the_change_to_date_while_a_period_runs_and_the_full_change_once_the_cut_is_whole(staff):
    manager = staff("manager")
    KPIFactory(name="Revenue", metric_name="rev", period="month", target=1000.0, unit="€")
    KPIFactory(name="Latency", metric_name="ms", aggregation="avg", direction="down", target=200.0, unit="ms")

    def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
        return datetime(2026, month, day, hour, minute, tzinfo=UTC)

    for name, moment, value in [
        ("rev", at(10, 1, 9), 100.0),
        ("rev", at(10, 30, 9), 900.0),
        ("rev", at(11, 1, 9), 80.0),
        ("rev", at(11, 25, 9), 1200.0),
        ("rev", at(12, 1, 9), 120.0),
        ("ms", at(12, 1, 9), 254.0),
    ]:
        MetricFactory(owner=manager, name=name, value=value, timestamp=moment)

    cards = {card.kpi.name: card for card in pages.kpi_cards(user=manager, tz=UTC, now=at(12, 2, 10))}
    revenue = cards["Revenue"]
    assert (format_change(revenue.change), revenue.change_basis) == ("+50%", "vs last month to date")  # 120 vs 80
    assert revenue.basis == 80.0
    assert "up to Nov 2, 10:00" in revenue.change_title
    assert (revenue.progress_label, revenue.progress_text) == ("Progress", "12%")
    # Lower is better: 254 ms against at most 200 ms is over budget, not "127% progress".
    assert (cards["Latency"].progress_label, cards["Latency"].progress_text) == ("Budget", "27% over budget")

    # On the evening of Dec 31 the cut is past November's 30 days: the card compares with all of November, says so.
    revenue = next(c for c in pages.kpi_cards(user=manager, tz=UTC, now=at(12, 31, 20)) if c.kpi.name == "Revenue")
    assert (format_change(revenue.change), revenue.change_basis) == ("\u221290.6%", "vs last month")  # 120 vs 1280
    assert revenue.basis == 1280.0


def test_overview_without_kpis_says_so(client, staff):
    client.force_login(staff("viewer"))
    assert "No KPIs yet." in _html(client.get(OVERVIEW))


def test_kpi_detail_shows_the_series_over_the_chosen_range(client, client_for, data):
    kpi, analyst = data["kpis"][0], data["analyst"]
    client.force_login(analyst)
    response = client.get(chart_url(kpi))
    html = _html(response)
    assert response.status_code == HTTPStatus.OK
    assert _chart_marks(html, "kpi-chart") == 3
    assert len(response.context["detail"].rows) == 3
    start = _in_current_month(-1).date().replace(day=1)
    response = client.get(chart_url(kpi), {"from": start.isoformat(), "tz": "UTC"})
    api = client_for(analyst).get(f"/api/v1/dashboard/kpis/{kpi.pk}/series", {"from": start.isoformat()}).json()
    assert [row.value for row in response.context["detail"].rows] == [p["value"] for p in api["points"]]
    assert len(api["points"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": "2026-05-01", "to": "2026-01-01"}, "from"), ({"from": "yesterday"}, "from"), ({"tz": "Nowhere"}, "tz")],
)
def test_kpi_detail_reports_bad_ranges(client, data, params, field):
    client.force_login(data["manager"])
    response = client.get(chart_url(data["kpis"][0]), params)
    assert response.status_code == HTTPStatus.OK
    assert response.context["detail"] is None
    assert field in response.context["form"].errors


def test_kpi_detail_of_a_missing_kpi_is_404(client, staff):
    client.force_login(staff("viewer"))
    assert client.get("/admin/dashboard/kpi/987654/chart/").status_code == HTTPStatus.NOT_FOUND


# --- Metric explorer ------------------------------------------------------------------------------------------


def test_explorer_shows_the_api_series_as_chart_and_table(client, client_for, data):
    analyst = data["analyst"]
    client.force_login(analyst)
    params = {"name": "revenue", "bucket": "month", "agg": "sum", "tz": "UTC", "from": ""}
    response = client.get(EXPLORER, params)
    html = _html(response)
    api = client_for(analyst).get("/api/v1/dashboard/metrics/series", {"name": "revenue", "bucket": "month"}).json()
    rows = response.context["explorer"].rows
    assert [row.value for row in rows] == [point["value"] for point in api["points"]]
    assert [row.count for row in rows] == [point["count"] for point in api["points"]]
    assert _chart_marks(html, "metric-chart") == len(api["points"]) == 3
    assert html.count('<tr><th scope="row">') == 3

    response = client.get(EXPLORER, {**params, "bucket": "year", "agg": "max"})
    api = (
        client_for(analyst)
        .get("/api/v1/dashboard/metrics/series", {"name": "revenue", "bucket": "year", "agg": "max"})
        .json()
    )
    assert [row.value for row in response.context["explorer"].rows] == [p["value"] for p in api["points"]]


def test_explorer_defaults_to_the_first_visible_name_by_day_over_90_days(client, data):
    client.force_login(data["analyst"])
    response = client.get(EXPLORER)
    form = response.context["form"]
    assert form.is_valid()
    assert form.cleaned_data["name"] == "revenue"
    assert form.cleaned_data["bucket"] == "day"
    assert form.cleaned_data["agg"] == "avg"  # not a sum, which means nothing for a gauge such as latency
    assert response.context["explorer"] is not None
    assert client.get(EXPLORER, {"agg": "sum"}).context["form"].cleaned_data["agg"] == "sum"  # the URL chooses


def test_explorer_offers_only_visible_names(client, data):
    client.force_login(data["analyst"])
    response = client.get(EXPLORER)
    assert response.context["names"] == ["revenue"]
    response = client.get(EXPLORER, {"name": "secret-metric", "bucket": "day"})
    assert response.context["explorer"] is None
    assert "name" in response.context["form"].errors
    assert '<option value="secret-metric"' not in _html(response)

    client.force_login(data["manager"])
    assert client.get(EXPLORER).context["names"] == ["revenue", "secret-metric"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"bucket": "fortnight"}, "bucket"), ({"agg": "median"}, "agg"), ({"from": "2026-13-01"}, "from")],
)
def test_explorer_validates_like_the_api(client, data, params, field):
    client.force_login(data["analyst"])
    response = client.get(EXPLORER, {"name": "revenue", **params})
    assert response.status_code == HTTPStatus.OK
    assert field in response.context["form"].errors
    assert response.context["explorer"] is None


def test_explorer_refuses_to_draw_too_many_buckets_but_lists_them(client, data, monkeypatch):
    monkeypatch.setattr(pages, "MAX_CHART_POINTS", 2)
    client.force_login(data["analyst"])
    response = client.get(EXPLORER, {"name": "revenue", "bucket": "month", "from": ""})
    assert response.context["explorer"].chart is None
    assert len(response.context["explorer"].rows) == 3
    assert "too many to draw" in _html(response)


def test_explorer_without_metrics_points_to_the_import(client, staff):
    client.force_login(staff("analyst"))
    html = _html(client.get(EXPLORER))
    assert "no metrics to explore yet" in html
    assert f'href="{IMPORT}"' in html


# --- Import ---------------------------------------------------------------------------------------------------


def _csv(content: str, name: str = "metrics.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def test_import_runs_the_import_service_and_shows_the_result(client, staff):
    analyst = staff("analyst")
    client.force_login(analyst)
    body = "name,value,timestamp\nvisits,3,2026-01-01T10:00:00\nvisits,4,2026-01-02\n"
    response = client.post(IMPORT, {"file": _csv(body), "tz": "Europe/Berlin"})
    upload = Upload.objects.get()
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{IMPORT}?upload={upload.pk}"
    assert upload.status == Upload.Status.SUCCEEDED
    assert upload.created_by == analyst
    assert upload.tz == "Europe/Berlin"
    assert list(Metric.objects.filter(owner=analyst).values_list("value", flat=True).order_by("value")) == [3.0, 4.0]

    html = _html(client.get(response["Location"]))
    assert "Imported 2 rows from metrics.csv" in html
    assert f"/admin/dashboard/metric/?upload__exact={upload.pk}" in html
    changelist = client.get(f"/admin/dashboard/metric/?upload__exact={upload.pk}")
    assert changelist.status_code == HTTPStatus.OK


def test_import_shows_row_errors_and_imports_nothing(client, staff):
    client.force_login(staff("analyst"))
    response = client.post(IMPORT, {"file": _csv("name,value,timestamp\na,1,2026-01-01\nb,oops,2026-01-01\n")})
    assert response.status_code == HTTPStatus.FOUND
    html = _html(client.get(response["Location"]))
    assert "Nothing was imported from metrics.csv: 1 error" in html
    assert re.search(r"<td[^>]*>3</td><td>value</td><td>Not a finite number: &#x27;oops&#x27;", html)
    assert not Metric.objects.exists()
    assert Upload.objects.get().status == Upload.Status.FAILED


def test_import_lists_the_first_errors_and_counts_them_all(client, staff):
    client.force_login(staff("analyst"))
    with (CORPUS / "many_errors.csv").open("rb") as handle:
        response = client.post(IMPORT, {"file": handle})
    upload = Upload.objects.get()
    html = _html(client.get(response["Location"]))
    assert f"{upload.error_count} errors" in html
    assert html.count("Not a finite number") == len(upload.errors) < upload.error_count


@pytest.mark.parametrize(("name", "message"), [("binary.csv", "binary"), ("xlsx_renamed.csv", "zip")])
def test_import_of_an_unreadable_file_is_a_form_error(client, staff, name, message):
    client.force_login(staff("analyst"))
    with (CORPUS / name).open("rb") as handle:
        response = client.post(IMPORT, {"file": handle})
    assert response.status_code == HTTPStatus.OK
    assert message in " ".join(response.context["form"].errors["file"])
    assert not Upload.objects.exists()


def test_import_of_the_same_file_twice_needs_import_again(client, staff):
    client.force_login(staff("analyst"))
    body = "name,value,timestamp\nvisits,3,2026-01-01\n"
    client.post(IMPORT, {"file": _csv(body)})
    response = client.post(IMPORT, {"file": _csv(body)})
    assert response.status_code == HTTPStatus.OK
    assert "You already imported this file" in " ".join(response.context["form"].errors["file"])
    response = client.post(IMPORT, {"file": _csv(body), "allow_duplicate": "on"})
    assert response.status_code == HTTPStatus.FOUND
    assert Metric.objects.count() == 2


def test_import_result_of_someone_elses_upload_is_404(client, staff):
    first, second = staff("manager"), staff("analyst")
    client.force_login(first)
    location = client.post(IMPORT, {"file": _csv("name,value,timestamp\nv,1,2026-01-01\n")})["Location"]
    client.force_login(second)
    assert client.get(location).status_code == HTTPStatus.NOT_FOUND
    assert client.get(f"{IMPORT}?upload=abc").status_code == HTTPStatus.NOT_FOUND


def test_import_needs_a_file(client, staff):
    client.force_login(staff("analyst"))
    response = client.post(IMPORT, {"tz": "UTC"})
    assert response.status_code == HTTPStatus.OK
    assert "file" in response.context["form"].errors


def test_kpi_list_stays_ordered_like_the_api(client, data):
    KPI.objects.create(name="Aardvark", slug="aardvark", metric_name="revenue")
    client.force_login(data["manager"])
    names = [card.kpi.name for card in client.get(OVERVIEW).context["cards"]]
    assert names == ["Aardvark", "Revenue", "Untargeted"]


def test_overview_queries_do_not_grow_with_metrics(client, data, django_assert_max_num_queries):
    client.force_login(data["manager"])
    with django_assert_max_num_queries(30) as few:
        client.get(OVERVIEW)
    MetricFactory.create_batch(50, owner=data["analyst"], name="revenue", timestamp=_in_current_month())
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(OVERVIEW)


def test_overview_queries_do_not_grow_with_kpis(client, data, django_assert_max_num_queries):
    def add_kpis(tag: str) -> None:
        for period in ("day", "week", "month", "quarter", "year"):
            for aggregation in ("sum", "last"):
                name = f"{tag} {period} {aggregation}"
                KPI.objects.create(
                    name=name,
                    slug=name.replace(" ", "-"),
                    metric_name="revenue",
                    period=period,
                    aggregation=aggregation,
                )

    client.force_login(data["manager"])
    add_kpis("first")
    with django_assert_max_num_queries(60) as few:
        client.get(OVERVIEW)
    add_kpis("second")
    add_kpis("third")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(OVERVIEW).context["cards"]) == 32


def test_explorer_reports_a_range_with_too_many_points(client, data, settings):
    settings.SERIES_MAX_POINTS = 50
    client.force_login(data["analyst"])
    response = client.get(EXPLORER, {"name": "revenue", "bucket": "hour", "from": "2026-01-01", "to": "2026-02-01"})
    assert response.status_code == HTTPStatus.OK
    assert response.context["explorer"] is None
    assert "the finest bucket that fits is 'day'" in " ".join(response.context["form"].non_field_errors())
    assert "the finest bucket that fits is &#x27;day&#x27;" in _html(response)
