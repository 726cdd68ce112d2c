"""Metrics endpoints through HTTP: visibility, permissions, filters, bulk create, names, series, export."""

import csv
import io
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest

from dashboard.metrics.models import Metric
from dashboard.tests.factories import MetricFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/dashboard/metrics"


@pytest.fixture
def analyst(user_with_role):
    return user_with_role("analyst")


@pytest.fixture
def analyst_client(analyst, client_for):
    return client_for(analyst)


def test_create_one_defaults_timestamp_and_owner(analyst, analyst_client):
    before = datetime.now(UTC)
    response = analyst_client.post(URL, {"name": "  visits  ", "value": 3, "owner": 999}, format="json")
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["name"] == "visits"
    assert body["owner"] == analyst.pk
    assert body["upload"] is None
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")) >= before - timedelta(seconds=1)


def test_create_list_is_all_or_nothing_with_errors_by_index(analyst_client):
    items = [{"name": "a", "value": 1}, {"name": "b", "value": 2}, {"name": "", "value": "x"}]
    response = analyst_client.post(URL + "/", items, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    errors = response.json()["errors"]
    assert list(errors) == ["2"]
    assert set(errors["2"]) == {"name", "value"}
    assert not Metric.objects.exists()


def test_create_list_returns_the_created_array(analyst, analyst_client):
    items = [{"name": f"m{i}", "value": i, "timestamp": "2026-01-01T00:00:00Z"} for i in range(5)]
    response = analyst_client.post(URL, items, format="json")
    assert response.status_code == HTTPStatus.CREATED
    assert [row["name"] for row in response.json()] == [f"m{i}" for i in range(5)]
    assert Metric.objects.filter(owner=analyst).count() == 5


def test_create_list_of_ten_thousand_and_cap(analyst_client):
    items = [{"name": "bulk", "value": i, "timestamp": "2026-01-01T00:00:00+00:00"} for i in range(10_000)]
    assert analyst_client.post(URL, items, format="json").status_code == HTTPStatus.CREATED
    too_many = analyst_client.post(URL, [*items, items[0]], format="json")
    assert too_many.status_code == HTTPStatus.BAD_REQUEST
    assert Metric.objects.count() == 10_000


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"name": "a", "value": "NaN"}, "value"),
        ({"name": "a", "value": "Infinity"}, "value"),
        ({"name": "a", "value": "-inf"}, "value"),
        ({"name": "a", "value": "twelve"}, "value"),
        ({"name": "a", "value": True}, "value"),
        ({"name": "   ", "value": 1}, "name"),
        ({"name": "x" * 256, "value": 1}, "name"),
        ({"value": 1}, "name"),
        ({"name": "a", "value": 1, "timestamp": "2026-02-30T00:00:00Z"}, "timestamp"),
    ],
)
def test_bad_metric_input_is_a_field_error(analyst_client, item, field):
    response = analyst_client.post(URL, item, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()["errors"]


def test_bare_nan_literal_is_parse_error(analyst_client):
    response = analyst_client.post(URL, '{"name": "a", "value": NaN}', content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "parse_error"


def test_list_shows_only_own_metrics_unless_view_all(user_with_role, client_for):
    viewer = user_with_role("viewer")
    manager = user_with_role("manager")
    own = MetricFactory(owner=viewer)
    MetricFactory(owner=manager)
    viewer_ids = [row["id"] for row in client_for(viewer).get(URL).json()["results"]]
    assert viewer_ids == [own.pk]
    assert client_for(manager).get(URL).json()["count"] == 2


def test_owner_filter_narrows_within_visible(user_with_role, client_for):
    viewer = user_with_role("viewer")
    other = user_with_role("viewer")
    MetricFactory(owner=other)
    assert client_for(viewer).get(URL, {"owner": other.pk}).json()["count"] == 0


def test_other_users_metric_is_404_for_every_method_even_without_permission(user_with_role, client_for):
    foreign = MetricFactory()
    for role in ("viewer", "analyst"):
        client = client_for(user_with_role(role))
        for method in ("get", "patch", "delete"):
            response = getattr(client, method)(f"{URL}/{foreign.pk}", {"value": 1}, format="json")
            assert response.status_code == HTTPStatus.NOT_FOUND, (role, method)
            assert response.json()["code"] == "not_found"


def test_own_metric_without_change_permission_is_403(user_with_role, client_for):
    viewer = user_with_role("viewer")
    metric = MetricFactory(owner=viewer)
    client = client_for(viewer)
    assert client.get(f"{URL}/{metric.pk}").status_code == HTTPStatus.OK
    assert client.patch(f"{URL}/{metric.pk}", {"value": 5}, format="json").status_code == HTTPStatus.FORBIDDEN
    assert client.delete(f"{URL}/{metric.pk}").status_code == HTTPStatus.FORBIDDEN


def test_manager_sees_but_cannot_change_others_metrics(user_with_role, client_for):
    manager = user_with_role("manager")
    metric = MetricFactory()
    client = client_for(manager)
    assert client.get(f"{URL}/{metric.pk}").status_code == HTTPStatus.OK
    assert client.patch(f"{URL}/{metric.pk}", {"value": 5}, format="json").status_code == HTTPStatus.FORBIDDEN
    assert client.delete(f"{URL}/{metric.pk}").status_code == HTTPStatus.FORBIDDEN


def test_patch_and_delete_own_metric(analyst, analyst_client):
    metric = MetricFactory(owner=analyst, value=1)
    response = analyst_client.patch(f"{URL}/{metric.pk}/", {"value": 7.5, "owner": 12345}, format="json")
    assert response.status_code == HTTPStatus.OK
    metric.refresh_from_db()
    assert metric.value == 7.5
    assert metric.owner_id == analyst.pk
    assert analyst_client.delete(f"{URL}/{metric.pk}").status_code == HTTPStatus.NO_CONTENT
    assert not Metric.objects.filter(pk=metric.pk).exists()


def test_put_is_not_allowed(analyst, analyst_client):
    metric = MetricFactory(owner=analyst)
    response = analyst_client.put(f"{URL}/{metric.pk}", {"name": "a", "value": 1}, format="json")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_filters_and_ordering(analyst, analyst_client):
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    for i, name in enumerate(["a", "b", "c", "a"]):
        MetricFactory(owner=analyst, name=name, value=10 - i, timestamp=t0 + timedelta(hours=i))
    get = lambda **q: analyst_client.get(URL, q).json()["results"]  # noqa: E731
    assert [r["name"] for r in get(name="a")] == ["a", "a"]
    assert sorted(r["name"] for r in get(name__in="a, b")) == ["a", "a", "b"]
    assert len(get(**{"from": "2026-03-01T01:00:00Z", "to": "2026-03-01T03:00:00Z"})) == 2
    # A naive value is read in tz: 02:00 in Berlin is 01:00 UTC.
    assert len(get(**{"from": "2026-03-01T02:00:00", "tz": "Europe/Berlin"})) == 3
    assert [r["value"] for r in get(ordering="value")] == [7, 8, 9, 10]
    assert [r["value"] for r in get()] == [7, 8, 9, 10]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"ordering": "owner"}, "ordering"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_bad_filters_are_400(analyst_client, query, field):
    response = analyst_client.get(URL, query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()["errors"]


def test_list_uses_constant_queries(analyst, analyst_client, django_assert_num_queries):
    MetricFactory.create_batch(3, owner=analyst)
    analyst_client.get(URL)  # warms the caller's cached access profile (accounts.authz)
    # user, count, page
    with django_assert_num_queries(3) as small:
        analyst_client.get(URL)
    MetricFactory.create_batch(50, owner=analyst)
    with django_assert_num_queries(len(small.captured_queries)):
        analyst_client.get(URL)


def test_names(analyst, analyst_client, django_assert_max_num_queries):
    MetricFactory(owner=analyst, name="b", timestamp=datetime(2026, 1, 2, tzinfo=UTC))
    MetricFactory(owner=analyst, name="a", timestamp=datetime(2026, 1, 1, tzinfo=UTC))
    MetricFactory(owner=analyst, name="a", timestamp=datetime(2026, 1, 5, tzinfo=UTC))
    MetricFactory(name="hidden")
    with django_assert_max_num_queries(5):
        body = analyst_client.get(f"{URL}/names").json()
    assert [(r["name"], r["count"]) for r in body] == [("a", 2), ("b", 1)]
    assert body[0]["first"].startswith("2026-01-01")
    assert body[0]["last"].startswith("2026-01-05")


def test_series_shape_and_dst_hour(analyst, analyst_client):
    start = datetime(2026, 11, 1, 4, 30, tzinfo=UTC)
    for i in range(6):
        MetricFactory(owner=analyst, name="load", value=i, timestamp=start + timedelta(minutes=30 * i))
    body = analyst_client.get(
        f"{URL}/series", {"name": "load", "bucket": "hour", "agg": "last", "tz": "America/New_York"}
    ).json()
    assert body["tz"] == "America/New_York"
    assert body["points"] == [
        {"t": "2026-11-01T00:00:00-04:00", "value": 0.0, "count": 1},
        {"t": "2026-11-01T01:00:00-04:00", "value": 4.0, "count": 4},
        {"t": "2026-11-01T02:00:00-05:00", "value": 5.0, "count": 1},
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"bucket": "day"}, "name"),
        ({"name": "x"}, "bucket"),
        ({"name": "x", "bucket": "fortnight"}, "bucket"),
        ({"name": "x", "bucket": "day", "agg": "median"}, "agg"),
        ({"name": "x", "bucket": "day", "tz": "Nowhere/Land"}, "tz"),
    ],
)
def test_series_bad_input(analyst_client, query, field):
    response = analyst_client.get(f"{URL}/series", query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()["errors"]


def test_series_is_one_query_over_visible_metrics(analyst, analyst_client, django_assert_num_queries):
    MetricFactory.create_batch(20, owner=analyst, name="x")
    MetricFactory.create_batch(5, name="x")
    # user, user permissions, group permissions, then the series itself.
    with django_assert_num_queries(4):
        body = analyst_client.get(f"{URL}/series", {"name": "x", "bucket": "year", "agg": "count"}).json()
    assert body["points"][0]["count"] == 20


def test_export_streams_escaped_csv_of_visible_metrics(analyst, analyst_client):
    MetricFactory(owner=analyst, name="=SUM(A1)", value=1.5, timestamp=datetime(2026, 1, 1, 12, tzinfo=UTC))
    MetricFactory(owner=analyst, name="plain", value=-2.0, timestamp=datetime(2026, 1, 2, tzinfo=UTC))
    MetricFactory(name="hidden")
    response = analyst_client.get(f"{URL}/export", {"ordering": "timestamp"})
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment")
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["name", "value", "timestamp"],
        ["'=SUM(A1)", "1.5", "2026-01-01T12:00:00+00:00"],
        ["plain", "-2.0", "2026-01-02T00:00:00+00:00"],
    ]
