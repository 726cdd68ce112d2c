"""Throttling of the auth endpoints, per client address and per account, and the audit log."""

import logging
from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
        }

    return set_rates


def post_login(email: str, address: str, **extra):
    client = APIClient(REMOTE_ADDR=address)
    return client.post(f"{API}/auth/login", {"email": email, "password": "wrong-password-1"}, format="json", **extra)


def test_login_is_throttled_per_address_with_retry_after(rates, caplog):
    rates(login="3/min")
    statuses = [post_login(f"u{i}@example.com", "10.0.0.1").status_code for i in range(3)]
    assert statuses == [HTTPStatus.UNAUTHORIZED] * 3
    with caplog.at_level(logging.WARNING, logger="dashboard.audit"):
        blocked = post_login("u9@example.com", "10.0.0.1")
    assert blocked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert blocked.json()["code"] == "throttled"
    assert int(blocked["Retry-After"]) > 0
    assert any(getattr(r, "event", "") == "throttled" for r in caplog.records)
    # Another address is not affected.
    assert post_login("u9@example.com", "10.0.0.2").status_code == HTTPStatus.UNAUTHORIZED


def test_login_is_throttled_per_account_across_addresses(rates):
    rates(login="3/min")
    UserFactory(email="target@example.com")
    for i in range(3):
        assert post_login("Target@example.com", f"10.0.1.{i}").status_code == HTTPStatus.UNAUTHORIZED
    assert post_login("target@EXAMPLE.com", "10.0.1.99").status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_forwarded_for_is_ignored_without_trusted_proxies(rates):
    rates(login="2/min")
    for i in range(2):
        post_login(f"a{i}@example.com", "10.0.2.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert (
        post_login("a7@example.com", "10.0.2.1", HTTP_X_FORWARDED_FOR="192.0.2.77").status_code
        == HTTPStatus.TOO_MANY_REQUESTS
    )


def test_forwarded_for_is_honoured_with_num_proxies(rates, settings):
    rates(login="2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for i in range(2):
        post_login(f"b{i}@example.com", "10.0.3.1", HTTP_X_FORWARDED_FOR="192.0.2.1")
    # Same proxy, a different real client: not throttled.
    assert (
        post_login("b7@example.com", "10.0.3.1", HTTP_X_FORWARDED_FOR="192.0.2.2").status_code
        == HTTPStatus.UNAUTHORIZED
    )


@pytest.mark.parametrize(
    ("scope", "path", "body"),
    [
        ("register", "/auth/register", {"email": "r@example.com", "password": "x"}),
        ("refresh", "/auth/refresh", {"refresh": "nope"}),
        ("refresh", "/auth/logout", {"refresh": "nope"}),
        ("password", "/auth/password-reset", {"email": "r@example.com"}),
        ("password", "/auth/password-reset/confirm", {"uid": "x", "token": "y", "new_password": "z"}),
    ],
)
def test_other_auth_endpoints_are_throttled(rates, scope, path, body):
    rates(**{scope: "2/min"})
    client = APIClient(REMOTE_ADDR="10.0.4.1")
    for _ in range(2):
        assert client.post(f"{API}{path}", body, format="json").status_code != HTTPStatus.TOO_MANY_REQUESTS
    assert client.post(f"{API}{path}", body, format="json").status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_password_change_is_throttled_per_account(rates, client_for):
    rates(password="2/min")
    user = UserFactory()
    body = {"current_password": "wrong-password-1", "new_password": "plum-Orbit-canyon-74"}
    for _ in range(2):
        assert client_for(user).post(f"{API}/users/me/password", body, format="json").status_code == 400
    response = client_for(user).post(f"{API}/users/me/password", body, format="json")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_audit_log_records_logins_without_secrets(caplog):
    user = UserFactory(email="audit@example.com")
    client = APIClient()
    with caplog.at_level(logging.INFO, logger="dashboard.audit"):
        client.post(f"{API}/auth/login", {"email": "audit@example.com", "password": "bad-password-9"}, format="json")
        ok = client.post(
            f"{API}/auth/login", {"email": "audit@example.com", "password": DEFAULT_PASSWORD}, format="json"
        )
    events = [(r.event, r.user_id) for r in caplog.records if r.name == "dashboard.audit"]
    assert ("login_failed", user.pk) in events
    assert ("login", user.pk) in events
    text = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    assert DEFAULT_PASSWORD not in text
    assert ok.json()["access"] not in text
    assert user.password not in text
