"""API keys through HTTP: creation shown once, scopes, authentication, revocation, expiry, routes a key may not reach,
last use, the per-key throttle, audit events and the administration endpoints."""

import logging
import re
import uuid
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_key_rules import effective_permissions
from accounts.models import ApiKey
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory, api_key_client, api_key_issue, key_secret
from dashboard.metrics.models import Metric
from dashboard.tests.factories import MetricFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
KEYS = f"{API}/users/me/api-keys"
ADMIN_KEYS = f"{API}/admin/api-keys"
KEY_FORMAT = re.compile(r"^dsh_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def analyst(user_with_role):
    return user_with_role("analyst")


@pytest.fixture
def analyst_client(analyst, client_for):
    return client_for(analyst)


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def push(client, **body):
    return client.post(f"{API}/dashboard/metrics", {"name": "m", "value": 1, **body}, format="json")


# --- Creation ----------------------------------------------------------------------------------------------------


def test_create_shows_the_key_once_and_stores_only_a_digest(analyst, analyst_client):
    response = analyst_client.post(
        KEYS, {"name": "etl", "scopes": ["dashboard.view_metric", "dashboard.add_metric"]}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "key",
    }
    assert KEY_FORMAT.match(body["key"])
    assert body["key"].startswith(f"dsh_{body['prefix']}_")
    assert body["scopes"] == ["dashboard.add_metric", "dashboard.view_metric"]
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.user == analyst
    assert body["key"] not in (stored.digest, stored.prefix)
    secret = key_secret(body["key"])
    assert secret not in stored.digest
    listed = analyst_client.get(KEYS)
    one = analyst_client.get(f"{KEYS}/{body['id']}")
    assert listed.status_code == one.status_code == HTTPStatus.OK
    for later in (listed, one):
        assert body["key"] not in later.content.decode()
        assert stored.digest not in later.content.decode()
    assert listed.json()["count"] == 1
    assert "key" not in one.json()


def test_two_keys_differ(analyst_client):
    keys = [
        analyst_client.post(KEYS, {"name": f"k{i}", "scopes": ["dashboard.view_metric"]}, format="json").json()
        for i in range(2)
    ]
    assert keys[0]["key"] != keys[1]["key"]
    assert keys[0]["prefix"] != keys[1]["prefix"]


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ([], "This list may not be empty."),
        (["dashboard.no_such_thing"], "Unknown permissions: dashboard.no_such_thing."),
        (["not-a-permission"], "Unknown permissions: not-a-permission."),
        (["dashboard.add_kpi"], "You do not hold these permissions: dashboard.add_kpi."),
        (["accounts.view_user"], "Only dashboard permissions"),
        (["accounts.add_apikey"], "Only dashboard permissions"),
        ("dashboard.view_metric", 'Expected a list of items but got type "str".'),
    ],
)
def test_bad_scopes_are_a_field_error(analyst, analyst_client, scopes, message):
    if scopes == ["accounts.view_user"]:
        analyst.groups.add(Group.objects.get(name="user_admin"))
    response = analyst_client.post(KEYS, {"name": "etl", "scopes": scopes}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["code"] == "invalid"
    assert any(message in error for error in body["errors"]["scopes"]), body
    assert not ApiKey.objects.exists()


def test_superuser_may_scope_any_dashboard_permission_but_no_other(superuser, client_for):
    client = client_for(superuser)
    ok = client.post(
        KEYS, {"name": "all", "scopes": ["dashboard.add_kpi", "dashboard.view_all_metrics"]}, format="json"
    )
    assert ok.status_code == HTTPStatus.CREATED
    refused = client.post(KEYS, {"name": "admin", "scopes": ["auth.view_group"]}, format="json")
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert "scopes" in refused.json()["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["dashboard.view_metric"]}, "name"),
        ({"name": "x" * 101, "scopes": ["dashboard.view_metric"]}, "name"),
        ({"name": "late", "scopes": ["dashboard.view_metric"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "bad", "scopes": ["dashboard.view_metric"], "expires_at": "tomorrow"}, "expires_at"),
    ],
)
def test_bad_name_or_expiry_is_a_field_error(analyst_client, body, field):
    response = analyst_client.post(KEYS, body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()["errors"]


def test_creation_and_revocation_are_audited_without_the_key(analyst, analyst_client, audit_log):
    created = analyst_client.post(KEYS, {"name": "etl", "scopes": ["dashboard.view_metric"]}, format="json").json()
    (event,) = audit_log.events("api_key_created")
    assert (event.user_id, event.api_key_id, event.prefix) == (analyst.pk, created["id"], created["prefix"])
    assert analyst_client.delete(f"{KEYS}/{created['id']}").status_code == HTTPStatus.NO_CONTENT
    (event,) = audit_log.events("api_key_revoked")
    assert event.api_key_id == created["id"]
    assert created["key"] not in audit_log.text
    assert key_secret(created["key"]) not in audit_log.text


# --- Using a key -------------------------------------------------------------------------------------------------


def test_a_key_pushes_metrics_as_its_owner(analyst):
    client = api_key_client(analyst, ["dashboard.add_metric"])
    response = push(client)
    assert response.status_code == HTTPStatus.CREATED
    assert Metric.objects.get().owner == analyst


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("dsh_", "Malformed API key."),
        ("dsh_abc", "Malformed API key."),
        ("dsh_0123456789ab_short", "Malformed API key."),
        ("dsh_0123456789AB_" + "a" * 43, "Malformed API key."),
        ("dsh_0123456789ab_" + "a" * 42 + "é", "Malformed API key."),
        ("dsh_0123456789ab_" + "a" * 43, "Invalid API key."),
    ],
)
def test_malformed_or_unknown_keys_are_401(raw, detail):
    response = bearer(raw).get(f"{API}/dashboard/metrics")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"detail": detail, "code": "token_not_valid"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_secret_for_a_known_prefix_is_401(analyst):
    issued = api_key_issue(analyst, ["dashboard.view_metric"])
    forged = f"dsh_{issued.api_key.prefix}_{'A' * 43}"
    response = bearer(forged).get(f"{API}/dashboard/metrics")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["detail"] == "Invalid API key."


def test_revocation_takes_effect_on_the_next_request(analyst, analyst_client):
    client = api_key_client(analyst, ["dashboard.view_metric"])
    assert client.get(f"{API}/dashboard/metrics").status_code == HTTPStatus.OK
    assert analyst_client.delete(f"{KEYS}/{client.api_key.pk}").status_code == HTTPStatus.NO_CONTENT
    response = client.get(f"{API}/dashboard/metrics")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"detail": "This API key has been revoked.", "code": "token_not_valid"}
    assert analyst_client.get(f"{KEYS}/{client.api_key.pk}").json()["revoked_at"] is not None
    # Revoking again changes nothing.
    assert analyst_client.delete(f"{KEYS}/{client.api_key.pk}").status_code == HTTPStatus.NO_CONTENT


def test_an_expired_key_is_401(analyst):
    client = api_key_client(analyst, ["dashboard.view_metric"], expires_at=timezone.now() + timedelta(hours=1))
    assert client.get(f"{API}/dashboard/metrics").status_code == HTTPStatus.OK
    ApiKey.objects.filter(pk=client.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(f"{API}/dashboard/metrics")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["detail"] == "This API key has expired."


def test_deactivation_stops_keys_and_a_password_change_does_not(analyst):
    client = api_key_client(analyst, ["dashboard.view_metric"])
    analyst.set_password("a-brand-new-passphrase-99")
    analyst.save()
    assert client.get(f"{API}/dashboard/metrics").status_code == HTTPStatus.OK
    analyst.is_active = False
    analyst.save()
    response = client.get(f"{API}/dashboard/metrics")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "token_not_valid"


def test_permissions_are_scopes_intersected_with_the_owners_current_ones(analyst):
    client = api_key_client(analyst, ["dashboard.add_metric", "dashboard.view_kpi"])
    assert client.get(f"{API}/dashboard/metrics").status_code == HTTPStatus.FORBIDDEN  # not in scopes
    assert client.get(f"{API}/dashboard/kpis").status_code == HTTPStatus.OK
    assert push(client).status_code == HTTPStatus.CREATED
    analyst.groups.set([Group.objects.get(name="viewer")])  # the owner loses add_metric
    assert push(client).status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"{API}/dashboard/kpis").status_code == HTTPStatus.OK
    me = client.get(f"{API}/users/me").json()
    assert me["permissions"] == ["dashboard.view_kpi"]


def test_a_superusers_key_is_limited_to_its_scopes(superuser):
    client = api_key_client(superuser, ["dashboard.view_metric"])
    assert client.get(f"{API}/dashboard/metrics").status_code == HTTPStatus.OK
    assert push(client).status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"{API}/dashboard/kpis").status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"{API}/users/me").json()["permissions"] == ["dashboard.view_metric"]


def test_users_me_with_a_key_shows_the_keys_effective_permissions(analyst):
    client = api_key_client(analyst, ["dashboard.add_metric", "dashboard.view_metric"])
    response = client.get(f"{API}/users/me")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["id"] == analyst.pk
    assert response.json()["permissions"] == ["dashboard.add_metric", "dashboard.view_metric"]


def test_visibility_with_a_key_is_its_owners(user_with_role):
    manager, analyst, other = user_with_role("manager"), user_with_role("analyst"), UserFactory()
    foreign = MetricFactory(owner=other)
    own = MetricFactory(owner=analyst)
    manager_key = api_key_client(manager, ["dashboard.view_metric"])
    analyst_key = api_key_client(analyst, ["dashboard.view_metric", "dashboard.change_metric"])
    assert manager_key.get(f"{API}/dashboard/metrics").json()["count"] == 2
    assert manager_key.get(f"{API}/dashboard/metrics/{foreign.pk}").status_code == HTTPStatus.OK
    assert analyst_key.get(f"{API}/dashboard/metrics").json()["count"] == 1
    assert analyst_key.get(f"{API}/dashboard/metrics/{own.pk}").status_code == HTTPStatus.OK
    assert analyst_key.get(f"{API}/dashboard/metrics/{foreign.pk}").status_code == HTTPStatus.NOT_FOUND
    patch = analyst_key.patch(f"{API}/dashboard/metrics/{foreign.pk}", {"value": 5}, format="json")
    assert patch.status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "users/me", {"full_name": "Robot"}),
        ("post", "users/me/password", {"current_password": DEFAULT_PASSWORD, "new_password": "x-new-passphrase-1"}),
        ("get", "users/me/api-keys", None),
        ("post", "users/me/api-keys", {"name": "child", "scopes": ["dashboard.view_metric"]}),
        ("get", "admin/users", None),
        ("get", "admin/api-keys", None),
        ("get", "admin/permissions", None),
        ("post", "auth/login", {"email": "x@example.com", "password": DEFAULT_PASSWORD}),
        ("post", "auth/refresh", {"refresh": "x"}),
        ("post", "auth/logout", {"refresh": "x"}),
        ("post", "auth/register", {"email": "robot@example.com", "password": "plum-Orbit-canyon-74"}),
        ("post", "auth/password-reset", {"email": "x@example.com"}),
    ],
)
def test_a_key_never_reaches_account_auth_or_admin_routes(superuser, method, path, body):
    client = api_key_client(superuser, ["dashboard.view_metric", "dashboard.add_metric"])
    response = getattr(client, method)(f"{API}/{path}", body, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN, response.content
    assert response.json()["code"] == "permission_denied"
    assert ApiKey.objects.count() == 1
    superuser.refresh_from_db()
    assert superuser.full_name != "Robot"
    assert superuser.check_password(DEFAULT_PASSWORD)


def test_last_used_at_is_written_at_most_once_a_minute(analyst, audit_log):
    client = api_key_client(analyst, ["dashboard.view_metric"])
    assert client.api_key.last_used_at is None
    client.get(f"{API}/dashboard/metrics")
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        client.get(f"{API}/dashboard/metrics")
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert ApiKey.objects.get().last_used_at == first
    ApiKey.objects.update(last_used_at=first - timedelta(minutes=2))
    client.get(f"{API}/dashboard/metrics")
    last_used_at = ApiKey.objects.get().last_used_at
    assert last_used_at is not None
    assert last_used_at > first
    assert len(audit_log.events("api_key_first_use")) == 1


def test_keys_are_throttled_per_key(settings, analyst):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_key": "3/min"},
    }
    client = api_key_client(analyst, ["dashboard.view_metric"])
    other = api_key_client(analyst, ["dashboard.view_metric"])
    assert [client.get(f"{API}/dashboard/metrics").status_code for _ in range(3)] == [HTTPStatus.OK] * 3
    blocked = client.get(f"{API}/dashboard/metrics")
    assert blocked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert blocked.json()["code"] == "throttled"
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert other.get(f"{API}/dashboard/metrics").status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "backend", ["django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.redis.RedisCache"]
)
def test_the_key_throttles_window_counts_and_expires_on_every_cache(backend, require_service, analyst):
    """The counter is one Redis round trip (a script: INCR, EXPIRE when new) on Redis and add/incr elsewhere: same
    count, an expiry."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache
    from django.utils.module_loading import import_string

    from conftest import port_open
    from core.throttles import ApiKeyThrottle

    assert ApiKeyThrottle().cache is caches["default"]  # the backend, not the proxy: _count can see it is Redis
    if "redis" in backend:
        require_service("Redis", port_open("127.0.0.1", 6379))
    location = "redis://127.0.0.1:6379/15" if "redis" in backend else "throttle-test"
    cache = import_string(backend)(location, {"KEY_PREFIX": f"throttle-{uuid.uuid4().hex}"})
    key = api_key_issue(analyst, ["dashboard.view_metric"]).api_key
    throttle = ApiKeyThrottle()
    throttle.cache, throttle.num_requests, throttle.duration = cache, 2, 60
    assert [throttle.allow_request(None, key) for _ in range(3)] == [True, True, False]
    window_key = throttle.cache_format % {"scope": "api_key", "ident": f"{key.pk}:{int(throttle.now // 60)}"}
    assert cache.get(window_key) == 3
    if isinstance(cache, RedisCache):
        full_key = cache.make_and_validate_key(window_key)
        assert 0 < cache._cache.get_client(full_key).ttl(full_key) <= 61
    cache.delete(window_key)


def test_keys_never_reach_the_logs(analyst, caplog):
    client = api_key_client(analyst, ["dashboard.add_metric"])
    with caplog.at_level(logging.DEBUG):
        push(client)
        bearer(client.raw_key + "x").get(f"{API}/dashboard/metrics")
        client.get(f"{API}/no-such-path?key={client.raw_key}")
    secret = key_secret(client.raw_key)
    from config.logging import JsonFormatter, RequestIdFilter

    lines = []
    for record in caplog.records:
        RequestIdFilter().filter(record)
        lines.append(JsonFormatter().format(record))
    assert lines
    assert secret not in "\n".join(lines)


# --- One's own keys ----------------------------------------------------------------------------------------------


def test_others_keys_are_not_found(analyst, analyst_client, user_with_role):
    theirs = api_key_issue(user_with_role("analyst"), ["dashboard.view_metric"]).api_key
    assert analyst_client.get(f"{KEYS}/{theirs.pk}").status_code == HTTPStatus.NOT_FOUND
    assert analyst_client.delete(f"{KEYS}/{theirs.pk}").status_code == HTTPStatus.NOT_FOUND
    assert analyst_client.get(KEYS).json()["count"] == 0
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_own_keys_list_newest_first_in_constant_queries(analyst, analyst_client, django_assert_num_queries):
    for i in range(3):
        api_key_issue(analyst, ["dashboard.view_metric"], name=f"k{i}")
    with django_assert_num_queries(3):  # user, count, page
        response = analyst_client.get(KEYS)
    assert [key["name"] for key in response.json()["results"]] == ["k2", "k1", "k0"]
    for i in range(3, 8):
        api_key_issue(analyst, ["dashboard.view_metric"], name=f"k{i}")
    with django_assert_num_queries(3):
        assert analyst_client.get(KEYS).json()["count"] == 8


def test_anonymous_gets_401_on_own_keys(api_client):
    assert api_client.get(KEYS).status_code == HTTPStatus.UNAUTHORIZED


# --- Administration ----------------------------------------------------------------------------------------------


def test_user_admin_lists_filters_and_revokes_every_key(user_with_role, client_for):
    admin = client_for(user_with_role("user_admin"))
    alice, bob = user_with_role("analyst"), user_with_role("viewer")
    a1 = api_key_issue(alice, ["dashboard.add_metric"]).api_key
    a2 = api_key_issue(alice, ["dashboard.view_metric"], expires_at=timezone.now() + timedelta(days=1)).api_key
    b1 = api_key_issue(bob, ["dashboard.view_metric"]).api_key
    ApiKey.objects.filter(pk=a2.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    listed = admin.get(ADMIN_KEYS).json()
    assert [key["id"] for key in listed["results"]] == [b1.pk, a2.pk, a1.pk]
    assert listed["results"][0]["user"] == bob.pk
    assert "key" not in listed["results"][0]
    assert "digest" not in listed["results"][0]
    assert [k["id"] for k in admin.get(ADMIN_KEYS, {"user": alice.pk}).json()["results"]] == [a2.pk, a1.pk]
    assert [k["id"] for k in admin.get(ADMIN_KEYS, {"active": "true"}).json()["results"]] == [b1.pk, a1.pk]
    assert [k["id"] for k in admin.get(ADMIN_KEYS, {"active": "false"}).json()["results"]] == [a2.pk]
    assert admin.get(ADMIN_KEYS, {"active": "maybe"}).status_code == HTTPStatus.BAD_REQUEST
    assert admin.get(ADMIN_KEYS, {"user": "x"}).status_code == HTTPStatus.BAD_REQUEST
    assert admin.get(f"{ADMIN_KEYS}/{a1.pk}").json()["prefix"] == a1.prefix
    assert admin.delete(f"{ADMIN_KEYS}/{a1.pk}").status_code == HTTPStatus.NO_CONTENT
    a1.refresh_from_db()
    assert a1.revoked_at is not None
    bob.is_active = False
    bob.save()
    assert admin.get(ADMIN_KEYS, {"active": "true"}).json()["count"] == 0


def test_admin_keys_need_their_permissions(user_with_role, client_for):
    key = api_key_issue(user_with_role("analyst"), ["dashboard.view_metric"]).api_key
    manager = client_for(user_with_role("manager"))
    assert manager.get(ADMIN_KEYS).status_code == HTTPStatus.FORBIDDEN
    assert manager.get(f"{ADMIN_KEYS}/{key.pk}").status_code == HTTPStatus.NOT_FOUND
    assert manager.delete(f"{ADMIN_KEYS}/{key.pk}").status_code == HTTPStatus.NOT_FOUND
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_rule_in_one_function():
    assert effective_permissions(scopes=["a.x", "a.y"], owner_permissions={"a.y", "a.z"}) == {"a.y"}
    assert effective_permissions(scopes=[], owner_permissions={"a.y"}) == frozenset()
