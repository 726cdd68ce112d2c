"""Role x endpoint x method: the status every seeded role (and anonymous, and a superuser) gets from every endpoint."""

import itertools
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from dashboard.models import Upload
from dashboard.tests.factories import AlertRuleFactory, KPIFactory, MetricFactory

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
]


def _caller(role, user_with_role, client_for):
    if role == "anonymous":
        return None, APIClient()
    user = UserFactory(is_superuser=True) if role == "superuser" else user_with_role(role)
    return user, client_for(user)


@pytest.mark.parametrize(
    ("role", "case"),
    list(itertools.product(ROLES, MATRIX)),
    ids=[f"{role}-{case[0]}-{case[1].split('?')[0]}" for role, case in itertools.product(ROLES, MATRIX)],
)
def test_role_endpoint_method(role, case, user_with_role, client_for):
    method, path, body, fmt, expected = case
    user, client = _caller(role, user_with_role, client_for)
    owner = user or UserFactory()
    objects = {
        "ordinary": UserFactory().pk,
        "metric": MetricFactory(owner=owner).pk,
        "upload": Upload.objects.create(filename="u.csv", sha256="0" * 64, status="succeeded", created_by=owner).pk,
        "kpi": KPIFactory().pk,
        "alert": AlertRuleFactory(created_by=owner).pk,
        "foreign_alert": AlertRuleFactory().pk,
    }
    if body == "alert":
        body = {
            "name": "Watch",
            "kpi": objects["kpi"],
            "condition": "above",
            "threshold": 1,
            "channels": [{"type": "email", "to": ["ops@example.com"]}],
        }
    data = csv_file() if body == "csv" else body
    response = getattr(client, method)(f"/api/v1/{path.format(**objects)}", data, format=fmt)
    assert response.status_code == expected[role], (role, method, path, response.content[:300])


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
