"""The administration API: users, roles and permissions, RBAC-gated with no privilege escalation."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group, Permission
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.exceptions import UserOwnsData
from accounts.models import User
from accounts.services.tokens import token_pair_issue
from accounts.services.users import user_delete
from accounts.tests.factories import DEFAULT_PASSWORD, RoleFactory, UserFactory, UserWithRolesFactory, protected_user
from dashboard.metrics.models import Metric
from dashboard.tests.factories import MetricFactory

pytestmark = pytest.mark.django_db

USERS = "/api/v1/admin/users"
ROLES = "/api/v1/admin/roles"
PERMISSIONS = "/api/v1/admin/permissions"
ME = "/api/v1/users/me"

USER_FIELDS = {
    "id",
    "email",
    "full_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
    "last_login",
    "roles",
}
NEW_PASSWORD = "an-entirely-new-passphrase-7"


def assert_error(response, status: HTTPStatus, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    return body


def assert_field_errors(response, *fields: str) -> dict:
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "invalid")
    assert set(body["errors"]) == set(fields)
    return body["errors"]


@pytest.fixture
def user_admin():
    """The seeded user_admin role: view/add/change users, view roles and permissions; no delete."""
    return UserWithRolesFactory(roles=["user_admin"])


@pytest.fixture
def user_remover():
    """A non-superuser who may also delete users."""
    RoleFactory(
        name="user_remover",
        permissions=["accounts.view_user", "accounts.change_user", "accounts.delete_user"],
    )
    return UserWithRolesFactory(roles=["user_remover"])


@pytest.fixture
def ordinary():
    return UserWithRolesFactory(roles=["viewer"], email="plain@example.com", full_name="Plain Person")


@pytest.fixture
def helpers_role():
    """Privileged whatever its harmless name: it holds an ``auth`` permission."""
    return RoleFactory(name="helpers", permissions=["auth.view_group"])


# --- Who may call what ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", USERS),
        ("post", USERS),
        ("get", f"{USERS}/1"),
        ("patch", f"{USERS}/1"),
        ("delete", f"{USERS}/1"),
        ("get", ROLES),
        ("post", ROLES),
        ("patch", f"{ROLES}/1"),
        ("get", PERMISSIONS),
    ],
)
def test_anonymous_is_401(api_client, method, path):
    response = getattr(api_client, method)(path, {}, format="json")
    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), [("get", USERS), ("post", USERS), ("get", ROLES), ("get", PERMISSIONS)])
def test_user_without_admin_rights_is_403(client_for, audit_log, method, path):
    viewer = UserWithRolesFactory(roles=["viewer"])
    response = getattr(client_for(viewer), method)(path, {}, format="json")
    assert_error(response, HTTPStatus.FORBIDDEN, "permission_denied")
    [denial] = audit_log.events("authorization_denied")
    assert denial.user_id == viewer.pk
    assert denial.path == path


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_users_the_caller_may_not_see_are_404_for_every_method(client_for, ordinary, method):
    viewer = UserWithRolesFactory(roles=["viewer"])
    response = getattr(client_for(viewer), method)(f"{USERS}/{ordinary.pk}", {"full_name": "x"}, format="json")
    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")
    ordinary.refresh_from_db()
    assert ordinary.full_name == "Plain Person"


def test_delete_needs_delete_user(client_for, user_admin, ordinary):
    client = client_for(user_admin)
    assert_error(client.delete(f"{USERS}/{ordinary.pk}"), HTTPStatus.FORBIDDEN, "permission_denied")
    assert User.objects.filter(pk=ordinary.pk).exists()
    # Visibility first: an unknown id is a 404 even for a caller who may not delete.
    assert_error(client.delete(f"{USERS}/999999"), HTTPStatus.NOT_FOUND, "not_found")


@pytest.mark.parametrize("suffix", ["", "/"])
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_every_path_works_with_and_without_trailing_slash(client_for, superuser, method, suffix):
    target = UserFactory()
    client = client_for(superuser)
    if method == "get":
        assert client.get(f"{USERS}{suffix}").status_code == HTTPStatus.OK
        assert client.get(f"{USERS}/{target.pk}{suffix}").status_code == HTTPStatus.OK
    elif method == "post":
        payload = {"email": "slash@example.com", "password": NEW_PASSWORD}
        assert client.post(f"{USERS}{suffix}", payload, format="json").status_code == HTTPStatus.CREATED
    elif method == "patch":
        response = client.patch(f"{USERS}/{target.pk}{suffix}", {"full_name": "Slash"}, format="json")
        assert response.status_code == HTTPStatus.OK
    else:
        assert client.delete(f"{USERS}/{target.pk}{suffix}").status_code == HTTPStatus.NO_CONTENT


@pytest.mark.parametrize("path", [USERS, ROLES])
def test_put_is_not_allowed(client_for, superuser, path):
    target = superuser.pk if path == USERS else Group.objects.get(name="viewer").pk
    response = client_for(superuser).put(f"{path}/{target}", {"name": "x"}, format="json")
    assert_error(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("path", [f"{USERS}/999999", f"{USERS}/abc", f"{ROLES}/999999"])
def test_unknown_ids_are_404_envelopes(client_for, superuser, method, path):
    response = getattr(client_for(superuser), method)(path, {"full_name": "x"}, format="json")
    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")


# --- Users: list -----------------------------------------------------------------------------------------------


def test_list_is_paginated_newest_first_and_never_shows_a_password(client_for, user_admin):
    now = timezone.now()
    older = UserFactory(date_joined=now - timedelta(days=2))
    same_time = UserFactory.create_batch(2, date_joined=now - timedelta(days=1))
    response = client_for(user_admin).get(USERS)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 4
    assert body["next"] is None
    assert body["previous"] is None
    expected = [user_admin.pk, same_time[1].pk, same_time[0].pk, older.pk]
    assert [item["id"] for item in body["results"]] == expected
    for item in body["results"]:
        assert set(item) == USER_FIELDS
    assert "password" not in response.content.decode()
    assert "md5$" not in response.content.decode()
    assert body["results"][0]["roles"] == ["user_admin"]


def test_list_skip_and_limit(client_for, superuser):
    UserFactory.create_batch(4)
    response = client_for(superuser).get(USERS, {"skip": 1, "limit": 2})
    body = response.json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert "skip=3" in body["next"]
    assert body["previous"] is not None


@pytest.mark.parametrize(("param", "value"), [("limit", "0"), ("limit", "x"), ("skip", "-1")])
def test_list_bad_pagination_is_400(client_for, superuser, param, value):
    response = client_for(superuser).get(USERS, {param: value})
    assert_field_errors(response, param)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search": "ALICE"}, {"alice@example.com"}),
        ({"search": "smith"}, {"alice@example.com", "bob@sample.org"}),
        ({"search": "sample.ORG"}, {"bob@sample.org"}),
        ({"is_active": "false"}, {"bob@sample.org"}),
        ({"is_active": "true", "search": "smith"}, {"alice@example.com"}),
        ({"role": "analyst"}, {"alice@example.com"}),
        ({"role": "viewer"}, {"bob@sample.org", "carol@example.com"}),
        ({"role": "no-such-role"}, set()),
        ({"role": "viewer", "is_active": "true"}, {"carol@example.com"}),
    ],
)
def test_list_filters(client_for, params, expected):
    UserWithRolesFactory(email="alice@example.com", full_name="Alice Smith", roles=["analyst"])
    UserWithRolesFactory(email="bob@sample.org", full_name="Bob Smith", is_active=False, roles=["viewer"])
    UserWithRolesFactory(email="carol@example.com", full_name="Carol Jones", roles=["viewer"])
    root = UserFactory(email="root@example.com", full_name="Root", is_superuser=True)
    response = client_for(root).get(USERS, params)
    assert response.status_code == HTTPStatus.OK
    assert {item["email"] for item in response.json()["results"]} == expected


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_list_bad_is_active_is_a_field_error(client_for, superuser, value):
    errors = assert_field_errors(client_for(superuser).get(USERS, {"is_active": value}), "is_active")
    assert errors["is_active"]


@pytest.mark.parametrize("extra_users", [1, 20])
def test_list_runs_a_constant_number_of_queries(client_for, user_admin, django_assert_num_queries, extra_users):
    for _ in range(extra_users):
        UserWithRolesFactory(roles=["viewer", "analyst"])
    client = client_for(user_admin)
    client.get(USERS)  # warms the caller's cached access profile
    # Token user, count, page, the page's roles.
    with django_assert_num_queries(4):
        response = client.get(USERS)
    assert len(response.json()["results"]) == extra_users + 1


# --- Users: create ---------------------------------------------------------------------------------------------


def test_superuser_creates_a_user_with_every_field(client_for, superuser, audit_log):
    payload = {
        "email": "New.Person@EXAMPLE.com",
        "password": NEW_PASSWORD,
        "full_name": "New Person",
        "is_active": False,
        "is_staff": True,
        "is_superuser": True,
        "roles": ["viewer", "analyst"],
    }
    response = client_for(superuser).post(USERS, payload, format="json")
    assert response.status_code == HTTPStatus.CREATED, response.content
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "New.Person@example.com"
    assert body["roles"] == ["analyst", "viewer"]
    assert (body["is_active"], body["is_staff"], body["is_superuser"]) == (False, True, True)
    created = User.objects.get(pk=body["id"])
    assert created.check_password(NEW_PASSWORD)
    [event] = audit_log.events("user_roles_changed")
    assert (event.user_id, event.target_id, event.added, event.removed) == (
        superuser.pk,
        created.pk,
        ["analyst", "viewer"],
        [],
    )
    assert NEW_PASSWORD not in audit_log.text


def test_user_admin_creates_an_ordinary_user(client_for, user_admin):
    payload = {"email": "worker@example.com", "password": NEW_PASSWORD, "roles": ["analyst"]}
    response = client_for(user_admin).post(USERS, payload, format="json")
    assert response.status_code == HTTPStatus.CREATED, response.content
    body = response.json()
    assert (body["is_active"], body["is_staff"], body["is_superuser"], body["full_name"]) == (True, False, False, "")
    assert body["roles"] == ["analyst"]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"roles": ["viewer", "no-such-role"]}, {"roles"}),
        ({"roles": "viewer"}, {"roles"}),
        ({"password": "short"}, {"password"}),
        ({"password": "12345678901234567"}, {"password"}),
        ({"password": "password12345"}, {"password"}),
        ({"password": "fresh.person@example.com"}, {"password"}),
        ({"email": "TAKEN@example.com"}, {"email"}),
        ({"email": "not-an-email"}, {"email"}),
        ({"email": None}, {"email"}),
        ({"is_active": "maybe"}, {"is_active"}),
        ({"full_name": "x" * 256}, {"full_name"}),
    ],
)
def test_create_validation_errors(client_for, superuser, changes, fields):
    UserFactory(email="taken@example.com")
    payload = {"email": "fresh.person@example.com", "password": NEW_PASSWORD, **changes}
    response = client_for(superuser).post(USERS, payload, format="json")
    assert_field_errors(response, *fields)
    assert not User.objects.filter(email__iexact="fresh.person@example.com").exists()


def test_create_requires_email_and_password(client_for, superuser):
    assert_field_errors(client_for(superuser).post(USERS, {}, format="json"), "email", "password")


def test_unknown_role_error_names_the_role(client_for, superuser):
    payload = {"email": "r@example.com", "password": NEW_PASSWORD, "roles": ["ghost"]}
    errors = assert_field_errors(client_for(superuser).post(USERS, payload, format="json"), "roles")
    assert errors["roles"] == ["Unknown role: ghost."]


def test_mass_assignment_of_other_fields_is_ignored(client_for, user_admin):
    payload = {
        "email": "mass@example.com",
        "password": NEW_PASSWORD,
        "id": 424242,
        "date_joined": "2000-01-01T00:00:00Z",
        "last_login": "2000-01-01T00:00:00Z",
        "token_version": 99,
        "user_permissions": ["accounts.delete_user"],
        "groups": [Group.objects.get(name="user_admin").pk],
        "permissions": ["auth.change_group"],
    }
    response = client_for(user_admin).post(USERS, payload, format="json")
    assert response.status_code == HTTPStatus.CREATED, response.content
    created = User.objects.get(email="mass@example.com")
    assert created.pk != 424242
    assert created.date_joined.year > 2000
    assert created.last_login is None
    assert created.token_version == 0
    assert not created.user_permissions.exists()
    assert not created.groups.exists()


# --- Users: retrieve and change --------------------------------------------------------------------------------


def test_retrieve(client_for, user_admin, ordinary):
    response = client_for(user_admin).get(f"{USERS}/{ordinary.pk}")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert set(body) == USER_FIELDS
    assert (body["id"], body["email"], body["roles"]) == (ordinary.pk, "plain@example.com", ["viewer"])


def test_user_admin_sees_privileged_users_too(client_for, user_admin, superuser):
    client = client_for(user_admin)
    assert client.get(f"{USERS}/{superuser.pk}").status_code == HTTPStatus.OK
    assert superuser.pk in {item["id"] for item in client.get(USERS).json()["results"]}


def test_user_admin_changes_an_ordinary_user(client_for, user_admin, ordinary, audit_log):
    payload = {"full_name": "Renamed", "email": "Renamed@Example.COM", "roles": ["analyst"], "is_active": True}
    response = client_for(user_admin).patch(f"{USERS}/{ordinary.pk}", payload, format="json")
    assert response.status_code == HTTPStatus.OK, response.content
    body = response.json()
    assert (body["full_name"], body["email"], body["roles"]) == ("Renamed", "Renamed@example.com", ["analyst"])
    ordinary.refresh_from_db()
    assert ordinary.email == "Renamed@example.com"
    assert [role.name for role in ordinary.groups.all()] == ["analyst"]
    [event] = audit_log.events("user_roles_changed")
    assert (event.user_id, event.target_id, event.added, event.removed) == (
        user_admin.pk,
        ordinary.pk,
        ["analyst"],
        ["viewer"],
    )


def test_patch_with_the_same_roles_records_no_role_change(client_for, user_admin, ordinary, audit_log):
    response = client_for(user_admin).patch(f"{USERS}/{ordinary.pk}", {"roles": ["viewer"]}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert not audit_log.events("user_roles_changed")


def test_patch_to_a_taken_email_is_a_field_error(client_for, user_admin, ordinary):
    UserFactory(email="other@example.com")
    client = client_for(user_admin)
    response = client.patch(f"{USERS}/{ordinary.pk}", {"email": "OTHER@example.com"}, format="json")
    assert_field_errors(response, "email")
    # A user's own address in another case is not "taken".
    response = client.patch(f"{USERS}/{ordinary.pk}", {"email": "PLAIN@example.com"}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["email"] == "PLAIN@example.com"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"password": "short"}, {"password"}),
        ({"is_active": "maybe"}, {"is_active"}),
        ({"roles": ["ghost"]}, {"roles"}),
        ({"email": ""}, {"email"}),
        ({"password": "short", "email": "taken@example.com"}, {"password", "email"}),
    ],
)
def test_patch_validation_errors_change_nothing(client_for, user_admin, ordinary, payload, fields):
    UserFactory(email="taken@example.com")
    response = client_for(user_admin).patch(f"{USERS}/{ordinary.pk}", payload, format="json")
    assert_field_errors(response, *fields)
    ordinary.refresh_from_db()
    assert ordinary.email == "plain@example.com"
    assert ordinary.is_active
    assert ordinary.check_password(DEFAULT_PASSWORD)


def test_patch_ignores_fields_it_does_not_know(client_for, user_admin, ordinary):
    version = ordinary.token_version
    payload = {"token_version": 42, "date_joined": "2000-01-01T00:00:00Z", "id": 1, "user_permissions": [1]}
    response = client_for(user_admin).patch(f"{USERS}/{ordinary.pk}", payload, format="json")
    assert response.status_code == HTTPStatus.OK
    ordinary.refresh_from_db()
    assert ordinary.token_version == version
    assert ordinary.date_joined.year > 2000
    assert not ordinary.user_permissions.exists()


def test_deactivation_makes_the_targets_tokens_fail_at_once(client_for, user_admin, ordinary, audit_log):
    target_client = client_for(ordinary)
    refresh = token_pair_issue(user=ordinary)["refresh"]
    assert target_client.get(ME).status_code == HTTPStatus.OK
    audit_log.clear()
    response = client_for(user_admin).patch(f"{USERS}/{ordinary.pk}", {"is_active": False}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["is_active"] is False
    assert_error(target_client.get(ME), HTTPStatus.UNAUTHORIZED, "token_not_valid")
    refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh": refresh}, format="json")
    assert_error(refreshed, HTTPStatus.UNAUTHORIZED, "token_not_valid")
    [revocation] = audit_log.events("tokens_revoked")
    assert (revocation.user_id, revocation.reason) == (ordinary.pk, "deactivated")


def test_reactivation_does_not_revive_old_tokens(client_for, superuser, ordinary):
    target_client = client_for(ordinary)
    admin_client = client_for(superuser)
    admin_client.patch(f"{USERS}/{ordinary.pk}", {"is_active": False}, format="json")
    response = admin_client.patch(f"{USERS}/{ordinary.pk}", {"is_active": True}, format="json")
    assert response.json()["is_active"] is True
    assert_error(target_client.get(ME), HTTPStatus.UNAUTHORIZED, "token_not_valid")
    ordinary.refresh_from_db()
    assert client_for(ordinary).get(ME).status_code == HTTPStatus.OK


def test_new_password_is_set_and_revokes_the_targets_tokens(client_for, user_admin, ordinary, audit_log):
    target_client = client_for(ordinary)
    response = client_for(user_admin).patch(f"{USERS}/{ordinary.pk}", {"password": NEW_PASSWORD}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert "password" not in response.json()
    ordinary.refresh_from_db()
    assert ordinary.check_password(NEW_PASSWORD)
    assert_error(target_client.get(ME), HTTPStatus.UNAUTHORIZED, "token_not_valid")
    assert NEW_PASSWORD not in audit_log.text
    assert ordinary.password not in audit_log.text


def test_other_changes_leave_the_targets_tokens_alone(client_for, user_admin, ordinary):
    target_client = client_for(ordinary)
    response = client_for(user_admin).patch(f"{USERS}/{ordinary.pk}", {"full_name": "Still Here"}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert target_client.get(ME).status_code == HTTPStatus.OK


# --- Users: no privilege escalation ----------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
@pytest.mark.parametrize("value", [True, False])
def test_non_superuser_sending_an_account_flag_on_create_is_403(client_for, user_admin, audit_log, flag, value):
    payload = {"email": "flag@example.com", "password": NEW_PASSWORD, flag: value}
    response = client_for(user_admin).post(USERS, payload, format="json")
    assert_error(response, HTTPStatus.FORBIDDEN, "permission_denied")
    assert not User.objects.filter(email="flag@example.com").exists()
    [denial] = audit_log.events("authorization_denied")
    assert (denial.user_id, denial.method) == (user_admin.pk, "POST")


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
@pytest.mark.parametrize("value", [True, False])
def test_non_superuser_sending_an_account_flag_on_patch_is_403(client_for, user_admin, ordinary, flag, value):
    response = client_for(user_admin).patch(f"{USERS}/{ordinary.pk}", {flag: value, "full_name": "x"}, format="json")
    assert_error(response, HTTPStatus.FORBIDDEN, "permission_denied")
    ordinary.refresh_from_db()
    assert (ordinary.is_staff, ordinary.is_superuser, ordinary.full_name) == (False, False, "Plain Person")


@pytest.mark.parametrize("role", ["user_admin", "helpers"])
def test_non_superuser_granting_a_privileged_role_is_403(client_for, user_admin, ordinary, helpers_role, role):
    client = client_for(user_admin)
    payload = {"email": "grant@example.com", "password": NEW_PASSWORD, "roles": ["viewer", role]}
    body = assert_error(client.post(USERS, payload, format="json"), HTTPStatus.FORBIDDEN, "permission_denied")
    assert body["detail"] == "Only superusers may grant privileged roles."
    assert not User.objects.filter(email="grant@example.com").exists()
    response = client.patch(f"{USERS}/{ordinary.pk}", {"roles": [role]}, format="json")
    assert_error(response, HTTPStatus.FORBIDDEN, "permission_denied")
    assert [group.name for group in ordinary.groups.all()] == ["viewer"]


PROTECTED_KINDS = [
    "self",
    "staff",
    "superuser",
    "privileged role",
    "privileged-by-permission role",
    "direct privileged permission",
]


@pytest.mark.parametrize("kind", PROTECTED_KINDS)
@pytest.mark.parametrize(
    ("method", "payload"),
    [("patch", {"full_name": "Hijacked"}), ("patch", {"is_active": False}), ("delete", None)],
)
def test_non_superuser_may_not_change_protected_users(client_for, user_remover, audit_log, kind, method, payload):
    target = protected_user(kind, user_remover)
    client = client_for(user_remover)
    response = getattr(client, method)(f"{USERS}/{target.pk}", payload, format="json")
    assert_error(response, HTTPStatus.FORBIDDEN, "permission_denied")
    target.refresh_from_db()
    assert target.is_active
    assert target.full_name != "Hijacked"
    [denial] = audit_log.events("authorization_denied")
    assert (denial.user_id, denial.method, denial.path) == (user_remover.pk, method.upper(), f"{USERS}/{target.pk}")
    # Seeing them is fine.
    assert client.get(f"{USERS}/{target.pk}").status_code == HTTPStatus.OK


@pytest.mark.parametrize("kind", ["staff", "superuser", "privileged role"])
def test_superuser_changes_anyone(client_for, superuser, kind):
    target = protected_user(kind, superuser)
    response = client_for(superuser).patch(
        f"{USERS}/{target.pk}", {"full_name": "Changed", "is_staff": False}, format="json"
    )
    assert response.status_code == HTTPStatus.OK
    assert (response.json()["full_name"], response.json()["is_staff"]) == ("Changed", False)


def test_superuser_grants_and_revokes_account_flags_and_privileged_roles(client_for, superuser, ordinary):
    client = client_for(superuser)
    payload = {"is_staff": True, "is_superuser": True, "roles": ["user_admin"]}
    body = client.patch(f"{USERS}/{ordinary.pk}", payload, format="json").json()
    assert (body["is_staff"], body["is_superuser"], body["roles"]) == (True, True, ["user_admin"])
    payload = {"is_staff": False, "is_superuser": False, "roles": []}
    body = client.patch(f"{USERS}/{ordinary.pk}", payload, format="json").json()
    assert (body["is_staff"], body["is_superuser"], body["roles"]) == (False, False, [])


# --- Users: delete ---------------------------------------------------------------------------------------------


def test_superuser_deletes_a_user(client_for, superuser, ordinary, audit_log):
    response = client_for(superuser).delete(f"{USERS}/{ordinary.pk}")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not User.objects.filter(pk=ordinary.pk).exists()
    [event] = audit_log.events("user_deleted")
    assert (event.user_id, event.target_id) == (superuser.pk, ordinary.pk)


def test_user_remover_deletes_an_ordinary_user(client_for, user_remover, ordinary):
    assert client_for(user_remover).delete(f"{USERS}/{ordinary.pk}").status_code == HTTPStatus.NO_CONTENT
    assert not User.objects.filter(pk=ordinary.pk).exists()


def test_deleting_a_user_who_owns_metrics_is_409_and_deletes_nothing(client_for, superuser, ordinary):
    metric = MetricFactory(owner=ordinary)
    response = client_for(superuser).delete(f"{USERS}/{ordinary.pk}")
    body = assert_error(response, HTTPStatus.CONFLICT, "user_owns_data")
    assert "deactivate" in body["detail"]
    assert User.objects.filter(pk=ordinary.pk).exists()
    assert Metric.objects.filter(pk=metric.pk).exists()
    assert [group.name for group in ordinary.groups.all()] == ["viewer"]


def test_a_restricting_relation_is_409_too(client_for, superuser, ordinary, monkeypatch):
    # No model uses on_delete=RESTRICT today; this stands in for the collector's RestrictedError.
    def refuse(self, *args, **kwargs):
        raise RestrictedError("restricted", set())

    monkeypatch.setattr(User, "delete", refuse)
    assert_error(client_for(superuser).delete(f"{USERS}/{ordinary.pk}"), HTTPStatus.CONFLICT, "user_owns_data")
    assert User.objects.filter(pk=ordinary.pk).exists()


@pytest.mark.parametrize("error", [ProtectedError, RestrictedError])
def test_user_delete_service_translates_protection_errors(ordinary, monkeypatch, error):
    def refuse(self, *args, **kwargs):
        raise error("protected", set())

    monkeypatch.setattr(User, "delete", refuse)
    with pytest.raises(UserOwnsData):
        user_delete(user=ordinary)


# --- Roles -----------------------------------------------------------------------------------------------------


def test_roles_list_by_name_with_permission_codes(client_for, user_admin):
    RoleFactory(name="aardvark", permissions=["auth.view_group", "accounts.view_user"])
    response = client_for(user_admin).get(ROLES)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    names = [role["name"] for role in body["results"]]
    assert names == sorted(names)
    assert names[0] == "aardvark"
    assert {"viewer", "analyst", "manager", "user_admin"} <= set(names)
    first = body["results"][0]
    assert set(first) == {"id", "name", "permissions"}
    assert first["permissions"] == ["accounts.view_user", "auth.view_group"]
    user_admin_role = next(role for role in body["results"] if role["name"] == "user_admin")
    assert "accounts.change_user" in user_admin_role["permissions"]


@pytest.mark.parametrize("extra_roles", [1, 15])
def test_roles_list_runs_a_constant_number_of_queries(client_for, user_admin, django_assert_num_queries, extra_roles):
    for index in range(extra_roles):
        RoleFactory(name=f"extra-{index}", permissions=["accounts.view_user", "auth.view_group"])
    client = client_for(user_admin)
    client.get(ROLES)  # warms the caller's cached access profile
    # Token user, count, page, the page's permissions with their apps.
    with django_assert_num_queries(4):
        response = client.get(ROLES)
    assert response.json()["count"] == Group.objects.count()


def test_roles_list_paginates(client_for, superuser):
    body = client_for(superuser).get(ROLES, {"limit": 1, "skip": 1}).json()
    assert body["count"] == Group.objects.count()
    assert [role["name"] for role in body["results"]] == sorted(Group.objects.values_list("name", flat=True))[1:2]


def test_retrieve_a_role(client_for, user_admin):
    role = Group.objects.get(name="user_admin")
    body = client_for(user_admin).get(f"{ROLES}/{role.pk}").json()
    assert body["id"] == role.pk
    assert body["name"] == "user_admin"


def test_roles_the_caller_may_not_see_are_404(client_for):
    viewer = UserWithRolesFactory(roles=["viewer"])
    role = Group.objects.get(name="viewer")
    assert_error(client_for(viewer).get(f"{ROLES}/{role.pk}"), HTTPStatus.NOT_FOUND, "not_found")


def test_superuser_creates_a_role(client_for, superuser, audit_log):
    payload = {"name": "auditor", "permissions": ["auth.view_group", "accounts.view_user"]}
    response = client_for(superuser).post(ROLES, payload, format="json")
    assert response.status_code == HTTPStatus.CREATED, response.content
    body = response.json()
    assert body["name"] == "auditor"
    assert body["permissions"] == ["accounts.view_user", "auth.view_group"]
    assert Group.objects.get(name="auditor").permissions.count() == 2
    [event] = audit_log.events("role_created")
    assert (event.user_id, event.role, event.permissions) == (
        superuser.pk,
        "auditor",
        ["accounts.view_user", "auth.view_group"],
    )


def test_superuser_creates_a_role_without_permissions(client_for, superuser):
    response = client_for(superuser).post(ROLES, {"name": "empty"}, format="json")
    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["permissions"] == []


def test_superuser_renames_and_repermissions_a_role(client_for, superuser, audit_log):
    role = RoleFactory(name="old", permissions=["accounts.view_user"])
    payload = {"name": "new", "permissions": ["auth.view_group"]}
    response = client_for(superuser).patch(f"{ROLES}/{role.pk}", payload, format="json")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"id": role.pk, "name": "new", "permissions": ["auth.view_group"]}
    [event] = audit_log.events("role_updated")
    assert (event.user_id, event.renamed_from, event.added, event.removed) == (
        superuser.pk,
        "old",
        ["auth.view_group"],
        ["accounts.view_user"],
    )


def test_patching_only_the_name_keeps_the_permissions(client_for, superuser):
    role = RoleFactory(name="keep", permissions=["accounts.view_user"])
    response = client_for(superuser).patch(f"{ROLES}/{role.pk}", {"name": "kept"}, format="json")
    assert response.json()["permissions"] == ["accounts.view_user"]


def test_superuser_deletes_a_role_and_its_holders_lose_it(client_for, superuser, audit_log):
    RoleFactory(name="doomed")
    holder = UserWithRolesFactory(roles=["doomed", "viewer"])
    role = Group.objects.get(name="doomed")
    assert client_for(superuser).delete(f"{ROLES}/{role.pk}").status_code == HTTPStatus.NO_CONTENT
    assert not Group.objects.filter(name="doomed").exists()
    assert [group.name for group in holder.groups.all()] == ["viewer"]
    [event] = audit_log.events("role_deleted")
    assert (event.user_id, event.role, event.holders) == (superuser.pk, "doomed", 1)


@pytest.fixture
def group_manager():
    """A non-superuser holding every model permission on roles: still may not write them."""
    RoleFactory(
        name="group_manager",
        permissions=["auth.view_group", "auth.add_group", "auth.change_group", "auth.delete_group"],
    )
    return UserWithRolesFactory(roles=["group_manager"])


@pytest.mark.parametrize("caller", ["user_admin", "group_manager"])
@pytest.mark.parametrize(
    ("method", "payload"),
    [("post", {"name": "sneaky"}), ("patch", {"permissions": ["accounts.delete_user"]}), ("delete", None)],
)
def test_role_writes_are_for_superusers_only(client_for, audit_log, request, caller, method, payload):
    actor = request.getfixturevalue(caller)
    role = Group.objects.get(name="viewer")
    permissions_before = set(role.permissions.all())
    path = ROLES if method == "post" else f"{ROLES}/{role.pk}"
    response = getattr(client_for(actor), method)(path, payload, format="json")
    assert_error(response, HTTPStatus.FORBIDDEN, "permission_denied")
    assert not Group.objects.filter(name="sneaky").exists()
    assert Group.objects.filter(name="viewer").exists()
    assert set(role.permissions.all()) == permissions_before
    [denial] = audit_log.events("authorization_denied")
    assert denial.user_id == actor.pk


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "permissions": ["accounts.no_such_thing"]}, "permissions"),
        ({"name": "x", "permissions": ["no-dot"]}, "permissions"),
        ({"name": "x", "permissions": "accounts.view_user"}, "permissions"),
        ({"name": "viewer"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "n" * 151}, "name"),
        ({}, "name"),
    ],
)
def test_role_validation_errors(client_for, superuser, payload, field):
    assert_field_errors(client_for(superuser).post(ROLES, payload, format="json"), field)
    assert not Group.objects.filter(name="x").exists()


def test_unknown_permission_error_names_it(client_for, superuser):
    payload = {"name": "x", "permissions": ["accounts.view_user", "dashboard.fly"]}
    errors = assert_field_errors(client_for(superuser).post(ROLES, payload, format="json"), "permissions")
    assert errors["permissions"] == ["Unknown permission: dashboard.fly."]


def test_renaming_a_role_to_a_taken_name_is_a_field_error(client_for, superuser):
    role = RoleFactory(name="mine")
    response = client_for(superuser).patch(f"{ROLES}/{role.pk}", {"name": "viewer"}, format="json")
    assert_field_errors(response, "name")


# --- Permissions -----------------------------------------------------------------------------------------------


def test_permissions_are_a_plain_sorted_array_of_every_permission(client_for, user_admin):
    response = client_for(user_admin).get(PERMISSIONS)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert isinstance(body, list)
    assert len(body) == Permission.objects.count()
    codes = [item["codename"] for item in body]
    assert codes == sorted(codes)
    assert {"accounts.view_user", "auth.view_group", "auth.view_permission"} <= set(codes)
    view_user = next(item for item in body if item["codename"] == "accounts.view_user")
    assert view_user == {"codename": "accounts.view_user", "name": "Can view user"}


def test_permissions_need_view_permission(client_for):
    RoleFactory(name="groups_only", permissions=["auth.view_group"])
    caller = UserWithRolesFactory(roles=["groups_only"])
    assert_error(client_for(caller).get(PERMISSIONS), HTTPStatus.FORBIDDEN, "permission_denied")
