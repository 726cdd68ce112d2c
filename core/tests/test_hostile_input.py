"""Input a client may send that Python accepts but the database or the stack does not: never a 500."""

from http import HTTPStatus

import pytest

from dashboard.tests.factories import KPIFactory, MetricFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/api/v1/dashboard"
# Valid ISO 8601 for Python (offsets up to ±23:59), out of range for PostgreSQL (±15:59), or past year 9999 in UTC.
ODD_OFFSETS = ["2026-01-01T00:00:00+23:59", "2026-01-01T00:00:00-20:00", "2026-01-01T00:00:00+16:00"]
OUT_OF_RANGE = ["0001-01-01T00:00:00+23:00", "9999-12-31T23:00:00-23:00", "0001-01-01"]


@pytest.fixture
def viewer_client(user_with_role, client_for):
    viewer = user_with_role("viewer", is_superuser=True)
    MetricFactory(owner=viewer, name="visits")
    return client_for(viewer)


def _range_routes():
    kpi = KPIFactory(metric_name="visits")
    return [
        f"{DASHBOARD}/metrics",
        f"{DASHBOARD}/metrics/names",
        f"{DASHBOARD}/metrics/series?name=visits&bucket=year",
        f"{DASHBOARD}/metrics/export",
        f"{DASHBOARD}/kpis/{kpi.pk}/series",
    ]


@pytest.mark.parametrize("value", ODD_OFFSETS)
def test_offsets_beyond_what_postgresql_takes_are_read_as_utc(viewer_client, value):
    for route in _range_routes():
        joiner = "&" if "?" in route else "?"
        for parameter in ("from", "to"):
            response = viewer_client.get(f"{route}{joiner}{parameter}={value.replace('+', '%2B')}")
            assert response.status_code == HTTPStatus.OK, (route, parameter, response.content[:300])
            if route.endswith("export"):
                assert b"".join(response.streaming_content).startswith(b"name,value,timestamp")


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_instants_outside_the_utc_calendar_are_a_field_error(viewer_client, value):
    for route in _range_routes():
        joiner = "&" if "?" in route else "?"
        # A naive value is read in tz: midnight of year 1 at UTC+14 is before year 1 in UTC.
        response = viewer_client.get(f"{route}{joiner}from={value.replace('+', '%2B')}&tz=Etc/GMT-14")
        assert response.status_code == HTTPStatus.BAD_REQUEST, route
        body = response.json()
        assert body["code"] == "invalid"
        assert "from" in body["errors"]


def test_a_metric_written_with_an_odd_offset_is_stored_in_utc(user_with_role, client_for):
    client = client_for(user_with_role("analyst"))
    response = client.post(
        f"{DASHBOARD}/metrics", {"name": "n", "value": 1, "timestamp": "2026-01-01T00:00:00+23:30"}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["timestamp"].startswith("2025-12-31T00:30:00")


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "path",
    ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/password-reset", f"{DASHBOARD}/metrics"],
)
@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_is_a_parse_error(api_client, superuser, client_for, path, depth):
    client = client_for(superuser) if path.startswith(DASHBOARD) else api_client
    body = b'{"email": ' + _nested(depth) + b"}" if "auth" in path else _nested(depth)
    response = client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "parse_error"


def test_moderately_nested_json_still_parses(superuser, client_for):
    client = client_for(superuser)
    response = client.generic("POST", f"{DASHBOARD}/metrics", _nested(20), content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "invalid"


def test_a_ratio_beyond_the_float_range_is_null_not_a_500(user_with_role, client_for):
    from django.utils import timezone

    manager = user_with_role("manager")
    MetricFactory(owner=manager, name="huge", value=1e300, timestamp=timezone.now())
    KPIFactory(metric_name="huge", period="year", target=1e-300)
    response = client_for(manager).get(f"{DASHBOARD}/summary")
    assert response.status_code == HTTPStatus.OK
    (row,) = response.json()
    assert row["current"]["value"] == 1e300
    assert row["progress_pct"] is None
