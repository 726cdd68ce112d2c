"""Role x endpoint x method: the status every seeded role (and anonymous, and a superuser) gets from every endpoint,
and what API keys with each scope set get."""

import itertools
import uuid
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.api_key_rules import key_digest
from accounts.models import ApiKey
from accounts.tests.factories import UserFactory
from dashboard.tests.factories import AlertRuleFactory, BoardFactory, KPIFactory, MetricFactory, UploadFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "viewer", "analyst", "manager", "user_admin", "superuser")
OK, CREATED, GONE = HTTPStatus.OK, HTTPStatus.CREATED, HTTPStatus.NO_CONTENT
ACCEPTED = HTTPStatus.ACCEPTED
DENIED, ANON = HTTPStatus.FORBIDDEN, HTTPStatus.UNAUTHORIZED
BAD = HTTPStatus.BAD_REQUEST
# The two-factor routes called by users without MFA: allowed, but not in this state.
CONFLICT = HTTPStatus.CONFLICT
# Without accounts.view_user no user is visible, so a user's detail route is a 404 (visibility before permission).
UNSEEN = HTTPStatus.NOT_FOUND


def expect(viewer, analyst, manager, user_admin, superuser, anonymous=ANON):
    return dict(zip(ROLES, (anonymous, viewer, analyst, manager, user_admin, superuser), strict=True))


def csv_file():
    return {"file": SimpleUploadedFile("m.csv", b"name,value,timestamp\nm,1,2026-01-01\n")}


# (method, path, body, format, expected statuses by role); {placeholders} are objects made for the caller.
MATRIX = [
    ("get", "users/me", None, "json", expect(OK, OK, OK, OK, OK)),
    ("patch", "users/me", {"full_name": "X"}, "json", expect(OK, OK, OK, OK, OK)),
    (
        "post",
        "users/me/password",
        {"current_password": "wrong", "new_password": "x"},
        "json",
        expect(BAD, BAD, BAD, BAD, BAD),
    ),
    ("post", "users/me/mfa/totp", None, "json", expect(OK, OK, OK, OK, OK)),
    ("post", "users/me/mfa/totp/confirm", {"code": "123456"}, "json", expect(*[CONFLICT] * 5)),
    ("delete", "users/me/mfa", {"password": "x", "code": "123456"}, "json", expect(*[CONFLICT] * 5)),
    ("post", "users/me/mfa/recovery-codes", {"code": "123456"}, "json", expect(*[CONFLICT] * 5)),
    ("get", "admin/users", None, "json", expect(DENIED, DENIED, DENIED, OK, OK)),
    (
        "post",
        "admin/users",
        {"email": "new@example.com", "password": "plum-Orbit-canyon-74"},
        "json",
        expect(DENIED, DENIED, DENIED, CREATED, CREATED),
    ),
    ("get", "admin/users/{ordinary}", None, "json", expect(UNSEEN, UNSEEN, UNSEEN, OK, OK)),
    ("patch", "admin/users/{ordinary}", {"full_name": "Y"}, "json", expect(UNSEEN, UNSEEN, UNSEEN, OK, OK)),
    ("delete", "admin/users/{ordinary}", None, "json", expect(UNSEEN, UNSEEN, UNSEEN, DENIED, GONE)),
    ("post", "admin/users/{ordinary}/mfa-reset", None, "json", expect(UNSEEN, UNSEEN, UNSEEN, GONE, GONE)),
    ("get", "admin/roles", None, "json", expect(DENIED, DENIED, DENIED, OK, OK)),
    (
        "post",
        "admin/roles",
        {"name": "auditor", "permissions": []},
        "json",
        expect(DENIED, DENIED, DENIED, DENIED, CREATED),
    ),
    ("get", "admin/permissions", None, "json", expect(DENIED, DENIED, DENIED, OK, OK)),
    ("get", "users/me/api-keys", None, "json", expect(OK, OK, OK, OK, OK)),
    (
        "post",
        "users/me/api-keys",
        {"name": "etl", "scopes": ["dashboard.view_metric"]},
        "json",
        expect(CREATED, CREATED, CREATED, BAD, CREATED),
    ),
    ("get", "users/me/api-keys/{apikey}", None, "json", expect(OK, OK, OK, OK, OK)),
    ("delete", "users/me/api-keys/{apikey}", None, "json", expect(GONE, GONE, GONE, GONE, GONE)),
    ("get", "admin/api-keys", None, "json", expect(DENIED, DENIED, DENIED, OK, OK)),
    ("get", "admin/api-keys/{apikey}", None, "json", expect(UNSEEN, UNSEEN, UNSEEN, OK, OK)),
    ("delete", "admin/api-keys/{apikey}", None, "json", expect(UNSEEN, UNSEEN, UNSEEN, GONE, GONE)),
    ("get", "dashboard/metrics", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("post", "dashboard/metrics", {"name": "m", "value": 1}, "json", expect(DENIED, CREATED, CREATED, DENIED, CREATED)),
    ("get", "dashboard/metrics/{metric}", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("patch", "dashboard/metrics/{metric}", {"value": 2}, "json", expect(DENIED, OK, OK, DENIED, OK)),
    ("delete", "dashboard/metrics/{metric}", None, "json", expect(DENIED, GONE, GONE, DENIED, GONE)),
    ("get", "dashboard/metrics/names", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("get", "dashboard/metrics/series?name=m&bucket=day", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("get", "dashboard/metrics/export", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("post", "dashboard/upload", "csv", "multipart", expect(DENIED, CREATED, CREATED, DENIED, CREATED)),
    ("get", "dashboard/uploads", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("get", "dashboard/uploads/{upload}", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("delete", "dashboard/uploads/{upload}", None, "json", expect(DENIED, GONE, GONE, DENIED, GONE)),
    ("get", "dashboard/kpis", None, "json", expect(OK, OK, OK, DENIED, OK)),
    (
        "post",
        "dashboard/kpis",
        {"name": "K", "metric_name": "m"},
        "json",
        expect(DENIED, DENIED, CREATED, DENIED, CREATED),
    ),
    ("get", "dashboard/kpis/{kpi}", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("patch", "dashboard/kpis/{kpi}", {"target": 3}, "json", expect(DENIED, DENIED, OK, DENIED, OK)),
    ("delete", "dashboard/kpis/{kpi}", None, "json", expect(DENIED, DENIED, GONE, DENIED, GONE)),
    ("get", "dashboard/kpis/{kpi}/series", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("get", "dashboard/summary", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("get", "dashboard/alerts", None, "json", expect(DENIED, OK, OK, DENIED, OK)),
    ("post", "dashboard/alerts", "alert", "json", expect(DENIED, CREATED, CREATED, DENIED, CREATED)),
    ("get", "dashboard/alerts/{alert}", None, "json", expect(DENIED, OK, OK, DENIED, OK)),
    ("patch", "dashboard/alerts/{alert}", {"name": "Renamed"}, "json", expect(DENIED, OK, OK, DENIED, OK)),
    ("delete", "dashboard/alerts/{alert}", None, "json", expect(DENIED, GONE, GONE, DENIED, GONE)),
    ("get", "dashboard/alerts/{alert}/events", None, "json", expect(DENIED, OK, OK, DENIED, OK)),
    ("post", "dashboard/alerts/{alert}/test", None, "json", expect(DENIED, ACCEPTED, ACCEPTED, DENIED, ACCEPTED)),
    ("post", "dashboard/alerts/{alert}/rotate-secret", None, "json", expect(DENIED, OK, OK, DENIED, OK)),
    ("get", "dashboard/alerts/{foreign_alert}", None, "json", expect(UNSEEN, UNSEEN, UNSEEN, UNSEEN, OK)),
    ("delete", "dashboard/alerts/{foreign_alert}", None, "json", expect(UNSEEN, UNSEEN, UNSEEN, UNSEEN, GONE)),
    ("get", "dashboard/boards", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("post", "dashboard/boards", {"name": "B"}, "json", expect(DENIED, CREATED, CREATED, DENIED, CREATED)),
    ("post", "dashboard/boards/import", {"name": "I"}, "json", expect(DENIED, CREATED, CREATED, DENIED, CREATED)),
    ("get", "dashboard/boards/{board}", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("patch", "dashboard/boards/{board}", {"name": "P"}, "json", expect(DENIED, OK, OK, DENIED, OK)),
    ("put", "dashboard/boards/{board}", {"name": "P"}, "json", expect(DENIED, OK, OK, DENIED, OK)),
    ("delete", "dashboard/boards/{board}", None, "json", expect(DENIED, GONE, GONE, DENIED, GONE)),
    ("get", "dashboard/boards/{board}/data", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("get", "dashboard/boards/{board}/export", None, "json", expect(OK, OK, OK, DENIED, OK)),
    # Another user's board shared with every seeded role: read-only to them; a stranger's: unseen.
    ("get", "dashboard/boards/{shared_board}/data", None, "json", expect(OK, OK, OK, DENIED, OK)),
    ("patch", "dashboard/boards/{shared_board}", {"name": "P"}, "json", expect(DENIED, DENIED, DENIED, DENIED, OK)),
    ("delete", "dashboard/boards/{shared_board}", None, "json", expect(DENIED, DENIED, DENIED, DENIED, GONE)),
    ("get", "dashboard/boards/{foreign_board}", None, "json", expect(UNSEEN, UNSEEN, UNSEEN, UNSEEN, OK)),
    ("patch", "dashboard/boards/{foreign_board}", {"name": "P"}, "json", expect(UNSEEN, UNSEEN, UNSEEN, UNSEEN, OK)),
    ("get", "dashboard/boards/{foreign_board}/data", None, "json", expect(UNSEEN, UNSEEN, UNSEEN, UNSEEN, OK)),
]


def _caller(role, user_with_role, client_for):
    if role == "anonymous":
        return None, APIClient()
    user = UserFactory(is_superuser=True) if role == "superuser" else user_with_role(role)
    return user, client_for(user)


def _api_key(owner, scopes) -> tuple[ApiKey, str]:
    """A key row with *scopes* as stored, whatever the owner holds (the API's scope checks are tested elsewhere)."""
    prefix = uuid.uuid4().hex[:12]
    raw = f"dsh_{prefix}_{uuid.uuid4().hex}{uuid.uuid4().hex[:11]}"
    return ApiKey.objects.create(user=owner, name="k", prefix=prefix, digest=key_digest(raw), scopes=scopes), raw


def _key_client(owner, scopes) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_api_key(owner, scopes)[1]}")
    return client


def _objects_for(owner) -> dict:
    return {
        "ordinary": UserFactory().pk,
        "metric": MetricFactory(owner=owner).pk,
        "upload": UploadFactory(created_by=owner).pk,
        "kpi": KPIFactory().pk,
        "apikey": _api_key(owner, [])[0].pk,
        "alert": AlertRuleFactory(created_by=owner).pk,
        "foreign_alert": AlertRuleFactory().pk,
        "board": BoardFactory(owner=owner).pk,
        "shared_board": BoardFactory(shared_with=["viewer", "analyst", "manager", "user_admin"]).pk,
        "foreign_board": BoardFactory().pk,
    }


def _call(client, method, path, body, fmt, objects):
    if body == "alert":
        body = {
            "name": "Watch",
            "kpi": objects["kpi"],
            "condition": "above",
            "threshold": 1,
            "channels": [{"type": "email", "to": ["ops@example.com"]}],
        }
    data = csv_file() if body == "csv" else body
    return getattr(client, method)(f"/api/v1/{path.format(**objects)}", data, format=fmt)


@pytest.mark.parametrize(
    ("role", "case"),
    list(itertools.product(ROLES, MATRIX)),
    ids=[f"{role}-{case[0]}-{case[1].split('?')[0]}" for role, case in itertools.product(ROLES, MATRIX)],
)
def test_role_endpoint_method(role, case, user_with_role, client_for):
    method, path, body, fmt, expected = case
    user, client = _caller(role, user_with_role, client_for)
    response = _call(client, method, path, body, fmt, _objects_for(user or UserFactory()))
    assert response.status_code == expected[role], (role, method, path, response.content[:300])


# --- API keys ----------------------------------------------------------------------------------------------------
# A key acts as its owner with scopes ∩ the owner's permissions, the owner's visibility, and never reaches account,
# auth or admin routes but GET users/me.

KEY_OWNER_ROLES = ("viewer", "analyst", "manager", "user_admin", "superuser")
DASHBOARD_ROWS = [case for case in MATRIX if case[1].startswith("dashboard/")]
ACCOUNT_ROWS = [case for case in MATRIX if not case[1].startswith("dashboard/") and case[:2] != ("get", "users/me")]


def _owner(role, user_with_role):
    return UserFactory(is_superuser=True) if role == "superuser" else user_with_role(role)


def _ids(cases, prefix=""):
    return [f"{prefix}{case[0]}-{case[1].split('?')[0]}" for case in cases]


@pytest.mark.parametrize(
    ("role", "case"),
    list(itertools.product(KEY_OWNER_ROLES, DASHBOARD_ROWS)),
    ids=[f"{role}-{i}" for role, i in itertools.product(KEY_OWNER_ROLES, _ids(DASHBOARD_ROWS))],
)
def test_key_with_all_its_owners_dashboard_permissions_acts_as_the_owner(role, case, user_with_role):
    method, path, body, fmt, expected = case
    owner = _owner(role, user_with_role)
    scopes = sorted(p for p in owner.get_all_permissions() if p.startswith("dashboard."))
    response = _call(_key_client(owner, scopes), method, path, body, fmt, _objects_for(owner))
    assert response.status_code == expected[role], (role, method, path, response.content[:300])


@pytest.mark.parametrize("case", ACCOUNT_ROWS, ids=_ids(ACCOUNT_ROWS))
def test_key_never_reaches_account_or_admin_routes(case, user_with_role):
    method, path, body, fmt, _ = case
    owner = UserFactory(is_superuser=True)
    all_dashboard = sorted(p for p in owner.get_all_permissions() if p.startswith("dashboard."))
    response = _call(_key_client(owner, all_dashboard), method, path, body, fmt, _objects_for(owner))
    assert response.status_code == DENIED, (method, path, response.content[:300])


KEY_CALLERS = {
    # name: (owner's role, scopes)
    "analyst-read": ("analyst", ["dashboard.view_kpi", "dashboard.view_metric", "dashboard.view_upload"]),
    "analyst-push": ("analyst", ["dashboard.add_metric"]),
    "analyst-upload": ("analyst", ["dashboard.add_upload", "dashboard.delete_upload", "dashboard.view_upload"]),
    "manager-kpis": (
        "manager",
        ["dashboard.add_kpi", "dashboard.change_kpi", "dashboard.delete_kpi", "dashboard.view_kpi"],
    ),
    # The owner lost add_metric after the key was made: only view_metric is left.
    "viewer-lapsed": ("viewer", ["dashboard.add_metric", "dashboard.view_metric"]),
}


def by_key(analyst_read, analyst_push, analyst_upload, manager_kpis, viewer_lapsed):
    return dict(
        zip(KEY_CALLERS, (analyst_read, analyst_push, analyst_upload, manager_kpis, viewer_lapsed), strict=True)
    )


KEY_MATRIX = [
    ("get", "users/me", None, "json", by_key(OK, OK, OK, OK, OK)),
    ("get", "dashboard/metrics", None, "json", by_key(OK, DENIED, DENIED, DENIED, OK)),
    ("post", "dashboard/metrics", {"name": "m", "value": 1}, "json", by_key(DENIED, CREATED, DENIED, DENIED, DENIED)),
    ("get", "dashboard/metrics/{metric}", None, "json", by_key(OK, DENIED, DENIED, DENIED, OK)),
    ("patch", "dashboard/metrics/{metric}", {"value": 2}, "json", by_key(DENIED, DENIED, DENIED, DENIED, DENIED)),
    ("delete", "dashboard/metrics/{metric}", None, "json", by_key(DENIED, DENIED, DENIED, DENIED, DENIED)),
    ("get", "dashboard/metrics/names", None, "json", by_key(OK, DENIED, DENIED, DENIED, OK)),
    ("get", "dashboard/metrics/series?name=m&bucket=day", None, "json", by_key(OK, DENIED, DENIED, DENIED, OK)),
    ("get", "dashboard/metrics/export", None, "json", by_key(OK, DENIED, DENIED, DENIED, OK)),
    ("post", "dashboard/upload", "csv", "multipart", by_key(DENIED, DENIED, CREATED, DENIED, DENIED)),
    ("get", "dashboard/uploads", None, "json", by_key(OK, DENIED, OK, DENIED, DENIED)),
    ("get", "dashboard/uploads/{upload}", None, "json", by_key(OK, DENIED, OK, DENIED, DENIED)),
    ("delete", "dashboard/uploads/{upload}", None, "json", by_key(DENIED, DENIED, GONE, DENIED, DENIED)),
    ("get", "dashboard/kpis", None, "json", by_key(OK, DENIED, DENIED, OK, DENIED)),
    (
        "post",
        "dashboard/kpis",
        {"name": "K", "metric_name": "m"},
        "json",
        by_key(DENIED, DENIED, DENIED, CREATED, DENIED),
    ),
    ("get", "dashboard/kpis/{kpi}", None, "json", by_key(OK, DENIED, DENIED, OK, DENIED)),
    ("patch", "dashboard/kpis/{kpi}", {"target": 3}, "json", by_key(DENIED, DENIED, DENIED, OK, DENIED)),
    ("delete", "dashboard/kpis/{kpi}", None, "json", by_key(DENIED, DENIED, DENIED, GONE, DENIED)),
    ("get", "dashboard/kpis/{kpi}/series", None, "json", by_key(OK, DENIED, DENIED, OK, DENIED)),
    ("get", "dashboard/summary", None, "json", by_key(OK, DENIED, DENIED, OK, DENIED)),
]


@pytest.mark.parametrize(
    ("caller", "case"),
    list(itertools.product(KEY_CALLERS, KEY_MATRIX)),
    ids=[f"{caller}-{i}" for caller, i in itertools.product(KEY_CALLERS, _ids(KEY_MATRIX))],
)
def test_key_scope_set_endpoint_method(caller, case, user_with_role):
    method, path, body, fmt, expected = case
    role, scopes = KEY_CALLERS[caller]
    owner = user_with_role(role)
    response = _call(_key_client(owner, scopes), method, path, body, fmt, _objects_for(owner))
    assert response.status_code == expected[caller], (caller, method, path, response.content[:300])


def test_matrix_covers_every_api_route():
    from django.urls import get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    routes = {r for r in walk(get_resolver().url_patterns) if r.startswith("api/v1/") and "auth/" not in r}
    covered = {path.split("?")[0].split("{")[0].rstrip("/") for _, path, *_ in MATRIX}
    missing = []
    for route in routes:
        plain = route.removeprefix("api/v1/").replace("^", "").replace("/?$", "").replace("$", "")
        plain = plain.split("(?P")[0].rstrip("/")
        if plain not in covered:
            missing.append(route)
    assert missing == []
