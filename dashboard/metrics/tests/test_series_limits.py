"""SERIES_MAX_POINTS: a series spanning more buckets is refused before any series query, naming what fits."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest

from dashboard.tests.factories import KPIFactory, MetricFactory

pytestmark = pytest.mark.django_db

SERIES = "/api/v1/dashboard/metrics/series"


@pytest.fixture
def viewer(user_with_role):
    return user_with_role("viewer")


@pytest.fixture
def viewer_client(viewer, client_for):
    return client_for(viewer)


def test_a_century_of_hours_is_refused_without_querying_and_names_the_finest_bucket(
    viewer, viewer_client, django_assert_num_queries
):
    MetricFactory(owner=viewer, name="m")
    query = {"name": "m", "bucket": "hour", "from": "1926-01-01", "to": "2026-01-01"}
    # user, user permissions, group permissions: the range alone decides, no series query runs.
    with django_assert_num_queries(3):
        response = viewer_client.get(SERIES, query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["code"] == "too_many_points"
    assert body["points"] == 36_525 * 24  # the 876,600 points
    assert body["max_points"] == 10_000
    # 36,525 days are too many, 5,219 weeks fit.
    assert body["finest_bucket"] == "week"
    assert "'week'" in body["detail"]
    assert viewer_client.get(SERIES, {**query, "bucket": "week"}).status_code == HTTPStatus.OK


def test_the_limit_itself_fits(viewer, viewer_client, settings):
    settings.SERIES_MAX_POINTS = 24
    MetricFactory(owner=viewer, name="m", timestamp=datetime(2026, 1, 1, 5, tzinfo=UTC))
    day = {"name": "m", "bucket": "hour", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    assert viewer_client.get(SERIES, day).status_code == HTTPStatus.OK
    longer = viewer_client.get(SERIES, {**day, "to": "2026-01-02T00:00:01Z"})
    assert longer.status_code == HTTPStatus.BAD_REQUEST
    assert longer.json()["points"] == 25
    assert longer.json()["finest_bucket"] == "day"


def test_an_open_range_is_measured_on_the_visible_data(viewer, viewer_client, settings):
    settings.SERIES_MAX_POINTS = 100
    start = datetime(2026, 1, 1, tzinfo=UTC)
    MetricFactory(owner=viewer, name="m", timestamp=start)
    MetricFactory(owner=viewer, name="m", timestamp=start + timedelta(hours=99))
    # Someone else's metric, far away, must not count.
    MetricFactory(name="m", timestamp=start + timedelta(days=400))
    assert viewer_client.get(SERIES, {"name": "m", "bucket": "hour"}).status_code == HTTPStatus.OK
    MetricFactory(owner=viewer, name="m", timestamp=start + timedelta(hours=100))
    response = viewer_client.get(SERIES, {"name": "m", "bucket": "hour"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["finest_bucket"] == "day"
    # Only 'from' given: the other end is the data's last timestamp.
    late = viewer_client.get(SERIES, {"name": "m", "bucket": "hour", "from": "2026-01-01T02:00:00Z"})
    assert late.status_code == HTTPStatus.OK


def test_when_no_bucket_fits_the_message_says_to_narrow_the_range(viewer, viewer_client, settings):
    settings.SERIES_MAX_POINTS = 5
    response = viewer_client.get(SERIES, {"name": "m", "bucket": "year", "from": "2000-01-01", "to": "2026-01-01"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["finest_bucket"] is None
    assert "narrow the range" in response.json()["detail"]


def test_kpi_series_is_bounded_too(user_with_role, client_for, settings):
    settings.SERIES_MAX_POINTS = 31
    manager = user_with_role("manager")
    kpi = KPIFactory(metric_name="m", period="day")
    client = client_for(manager)
    url = f"/api/v1/dashboard/kpis/{kpi.pk}/series"
    assert client.get(url).status_code == HTTPStatus.OK  # the default range: 12 periods
    assert client.get(url, {"from": "2026-01-01", "to": "2026-02-01"}).status_code == HTTPStatus.OK
    response = client.get(url, {"from": "2026-01-01", "to": "2026-02-02"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "too_many_points"
    assert response.json()["finest_bucket"] == "week"
