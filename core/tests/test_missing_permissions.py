"""A 403 permission_denied names what the caller lacks (``missing``)."""

from http import HTTPStatus

import pytest

from dashboard.tests.factories import MetricFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(user_with_role, client_for):
    return client_for(user_with_role("viewer"))


@pytest.mark.parametrize(
    ("method", "path", "missing"),
    [
        ("post", "/api/v1/dashboard/metrics", ["dashboard.add_metric"]),
        ("post", "/api/v1/dashboard/kpis/", ["dashboard.add_kpi"]),
        ("post", "/api/v1/dashboard/upload", ["dashboard.add_upload"]),
        ("get", "/api/v1/admin/users", ["accounts.view_user"]),
        ("get", "/api/v1/admin/permissions", ["auth.view_permission"]),
    ],
)
def test_a_new_user_is_told_which_permission_is_missing(viewer_client, method, path, missing):
    response = getattr(viewer_client, method)(path, {}, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    body = response.json()
    assert body["code"] == "permission_denied"
    assert body["missing"] == missing
    assert missing[0] in body["detail"]


def test_a_visible_object_the_caller_may_not_change_names_the_permission(user_with_role, client_for):
    viewer = user_with_role("viewer")
    metric = MetricFactory(owner=viewer)
    response = client_for(viewer).delete(f"/api/v1/dashboard/metrics/{metric.pk}")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["missing"] == ["dashboard.delete_metric"]


def test_a_refusal_no_permission_lifts_has_an_empty_missing(user_with_role, client_for):
    manager = user_with_role("manager")
    metric = MetricFactory()  # someone else's: the manager sees it (view_all_metrics) but may not change it
    response = client_for(manager).delete(f"/api/v1/dashboard/metrics/{metric.pk}")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["missing"] == []


def test_anonymous_callers_still_get_401(api_client):
    response = api_client.post("/api/v1/dashboard/metrics", {}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "missing" not in response.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/dashboard/boards"), ("post", "/api/v1/dashboard/boards"), ("get", "/api/v1/admin/users")],
)
def test_anonymous_callers_get_401_on_every_model_route(api_client, method, path):
    response = getattr(api_client, method)(path, {}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
