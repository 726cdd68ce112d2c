"""The contract's conventions: envelope, status codes, trailing slashes, pagination, body limits."""

import json
import logging
from http import HTTPStatus

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("core.tests.urls")]


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def raw_client():
    return Client(raise_request_exception=False)


def assert_envelope(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def test_validation_error_envelope_keys_fields(debug, raw_client):
    response = raw_client.post("/api/v1/_probe/echo", {"name": "x" * 11}, content_type="application/json")
    body = assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid")
    assert set(body["errors"]) == {"name", "value"}
    assert body["errors"]["value"] == ["This field is required."]


def test_validation_errors_of_a_list_are_keyed_by_index(raw_client):
    items = [{"name": "ok", "value": 1}, {"name": "ok", "value": 2}, {"name": "ok", "value": "nope"}]
    response = raw_client.post("/api/v1/_probe/echo/", items, content_type="application/json")
    body = assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid")
    assert list(body["errors"]) == ["2"]
    assert "value" in body["errors"]["2"]


@pytest.mark.parametrize("payload", ['{"name": "a", "value": ', '{"name": "a", "value": NaN}'])
def test_malformed_json_and_bare_nan_are_parse_errors(debug, raw_client, payload):
    response = raw_client.post("/api/v1/_probe/echo", payload, content_type="application/json")
    assert_envelope(response, HTTPStatus.BAD_REQUEST, "parse_error")


@pytest.mark.parametrize("path", ["/api/v1/_probe/echo", "/api/v1/_probe/echo/"])
def test_post_answers_with_and_without_trailing_slash(raw_client, path):
    response = raw_client.post(path, {"name": "a", "value": 1.5}, content_type="application/json")
    assert response.status_code == HTTPStatus.CREATED
    assert response.json() == {"name": "a", "value": 1.5}


@pytest.mark.parametrize("path", ["/api/v1/users/me", "/api/v1/users/me/"])
def test_no_credentials_is_401_with_bearer_challenge(debug, raw_client, path):
    response = raw_client.get(path)
    assert_envelope(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.bad"])
def test_bad_token_is_401_token_not_valid(raw_client, header):
    response = raw_client.get("/api/v1/users/me", HTTP_AUTHORIZATION=header)
    assert_envelope(response, HTTPStatus.UNAUTHORIZED, "token_not_valid")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/nothing/", "/api/v1/_probe/users/999999"])
def test_unknown_api_path_is_json_404(debug, raw_client, user, client_for, path):
    client = client_for(UserFactory(is_superuser=True))
    response = client.get(path)
    assert_envelope(response, HTTPStatus.NOT_FOUND, "not_found")


def test_admin_404_stays_html(raw_client):
    response = raw_client.get("/admin-nowhere/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not response["Content-Type"].startswith("application/json")


def test_wrong_method_is_json_405_with_allow(debug, user_client):
    response = user_client.delete("/api/v1/users/me")
    assert_envelope(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_oversized_body_is_json_413(debug, raw_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = raw_client.post(
        "/api/v1/_probe/echo", json.dumps({"name": "a" * 2000, "value": 1}), content_type="application/json"
    )
    assert_envelope(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")


def test_body_limit_fits_ten_thousand_metrics(raw_client):
    item = {"name": "n" * 10, "value": 123456.789, "timestamp": "2026-11-26T12:34:56.123456+00:00"}
    body = json.dumps([{**item, "pad": "p" * 200} for _ in range(10_000)])
    response = raw_client.post("/api/v1/_probe/echo", body, content_type="application/json")
    assert response.status_code == HTTPStatus.CREATED


def test_unhandled_error_is_generic_500_and_logs_traceback_with_request_id(debug, raw_client, caplog):
    with caplog.at_level(logging.ERROR, logger="dashboard.errors"):
        response = raw_client.get("/api/v1/_probe/boom", HTTP_X_REQUEST_ID="req-boom-1")
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    assert "probe failure" not in response.content.decode()
    records = [r for r in caplog.records if r.name == "dashboard.errors"]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert records[0].request_id == "req-boom-1"


def test_unhandled_error_in_plain_view_is_json_500(debug, raw_client):
    response = raw_client.get("/api/v1/_probe/plain-boom")
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}


def test_pagination_skip_limit_shape(client_for):
    admin = UserFactory(is_superuser=True)
    users = [admin, *UserFactory.create_batch(4)]
    client = client_for(admin)
    response = client.get("/api/v1/_probe/users?skip=1&limit=2")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["count"] == 5
    assert [row["id"] for row in body["results"]] == [u.pk for u in sorted(users, key=lambda u: u.pk)][1:3]
    assert "skip=3" in body["next"]
    assert "limit=2" in body["next"]
    assert body["previous"] is not None


def test_pagination_defaults_and_cap(client_for):
    admin = UserFactory(is_superuser=True)
    client = client_for(admin)
    body = client.get("/api/v1/_probe/users").json()
    assert body["next"] is None
    assert body["previous"] is None
    assert body["count"] == 1
    capped = client.get("/api/v1/_probe/users?limit=5000&skip=0").json()
    assert capped["count"] == 1


@pytest.mark.parametrize(("query", "field"), [("skip=-1", "skip"), ("limit=abc", "limit"), ("limit=0", "limit")])
def test_pagination_rejects_bad_values(client_for, query, field):
    client = client_for(UserFactory(is_superuser=True))
    response = client.get(f"/api/v1/_probe/users?{query}")
    body = assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid")
    assert field in body["errors"]


def test_model_permissions_demand_view_permission_for_reads(user_client):
    response = user_client.get("/api/v1/_probe/users")
    assert_envelope(response, HTTPStatus.FORBIDDEN, "permission_denied")
