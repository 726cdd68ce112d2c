"""The cached access profile (accounts.authz): no query on a warm cache, and never a stale permission — every kind of
change is seen by the very next request, in this process and in other server processes."""

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.authz import access_profile
from accounts.models import User
from accounts.services.tokens import token_pair_issue
from accounts.tests.factories import RoleFactory, UserFactory, api_key_client
from conftest import port_open
from dashboard.tests.factories import MetricFactory

API = "/api/v1"
ME = f"{API}/users/me"
METRICS = f"{API}/dashboard/metrics"
REPO_ROOT = Path(__file__).resolve().parents[2]


def permission(code: str) -> Permission:
    app_label, codename = code.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def me(client) -> dict:
    response = client.get(ME)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


# --- In one process: every kind of change, on the next request --------------------------------------------------

pytest_db = pytest.mark.django_db


@pytest.fixture
def role(db):
    return RoleFactory(name="reporters", permissions=["dashboard.view_metric"])


@pytest.fixture
def member(role):
    user = UserFactory()
    user.groups.add(role)
    return User.objects.get(pk=user.pk)  # a separate instance, as another request would load


@pytest.fixture
def member_client(member, client_for):
    client = client_for(member)
    assert me(client)["permissions"] == ["dashboard.view_metric"]  # the profile is cached from here on
    return client


@pytest_db
def test_users_me_is_one_query_on_a_warm_cache(member_client, django_assert_num_queries):
    with django_assert_num_queries(1):  # the token's user row; roles, permissions and MFA come from the cache
        body = me(member_client)
    assert (body["roles"], body["permissions"], body["mfa_enabled"]) == (
        ["reporters"],
        ["dashboard.view_metric"],
        False,
    )


@pytest_db
def test_a_cold_cache_costs_two_queries_more(member_client, django_assert_num_queries):
    from django.core.cache import cache

    from accounts.authz import local_profiles_clear

    cache.clear()
    local_profiles_clear()
    # user row; then the stamp with the MFA flag, and the roles with their permissions, UNION the direct permissions
    with django_assert_num_queries(3):
        me(member_client)


@pytest_db
def test_metrics_list_is_user_count_and_page(member, member_client, django_assert_num_queries):
    MetricFactory.create_batch(3, owner=member)
    with django_assert_num_queries(3):
        assert member_client.get(METRICS).json()["count"] == 3


@pytest_db
def test_an_api_key_on_a_warm_cache_is_one_query(member, django_assert_num_queries):
    client = api_key_client(member, ["dashboard.view_metric"])
    assert me(client)["permissions"] == ["dashboard.view_metric"]
    with django_assert_num_queries(1):  # the key with its owner
        assert me(client)["permissions"] == ["dashboard.view_metric"]


@pytest_db
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda role, user: role.permissions.add(permission("dashboard.add_metric")), id="role-perm-add"),
        pytest.param(
            lambda role, user: permission("dashboard.add_metric").group_set.add(role), id="perm-group-set-add"
        ),
        pytest.param(
            lambda role, user: user.user_permissions.add(permission("dashboard.add_metric")), id="user-perm-add"
        ),
        pytest.param(lambda role, user: permission("dashboard.add_metric").user_set.add(user), id="perm-user-set-add"),
        pytest.param(
            lambda role, user: user.groups.add(RoleFactory(permissions=["dashboard.add_metric"])), id="user-group-add"
        ),
        pytest.param(
            lambda role, user: RoleFactory(permissions=["dashboard.add_metric"]).user_set.add(user),
            id="group-user-set-add",
        ),
    ],
)
def test_a_granted_permission_shows_on_the_next_request(role, member, member_client, change):
    change(Group.objects.get(pk=role.pk), User.objects.get(pk=member.pk))
    assert "dashboard.add_metric" in me(member_client)["permissions"]
    response = member_client.post(METRICS, {"name": "m", "value": 1}, format="json")
    assert response.status_code == HTTPStatus.CREATED


@pytest_db
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda role, user: role.permissions.remove(permission("dashboard.view_metric")), id="perm-remove"),
        pytest.param(lambda role, user: role.permissions.clear(), id="role-perms-clear"),
        pytest.param(lambda role, user: permission("dashboard.view_metric").group_set.clear(), id="perm-groups-clear"),
        pytest.param(lambda role, user: user.groups.remove(role), id="user-group-remove"),
        pytest.param(lambda role, user: user.groups.clear(), id="user-groups-clear"),
        pytest.param(lambda role, user: user.groups.set([]), id="user-groups-set"),
        pytest.param(lambda role, user: role.user_set.clear(), id="role-members-clear"),
        pytest.param(lambda role, user: role.user_set.remove(user), id="role-member-remove"),
        pytest.param(lambda role, user: role.delete(), id="role-delete"),
        pytest.param(lambda role, user: permission("dashboard.view_metric").delete(), id="permission-delete"),
    ],
)
def test_a_revoked_permission_is_gone_on_the_next_request(role, member, member_client, change):
    change(Group.objects.get(pk=role.pk), User.objects.get(pk=member.pk))
    assert "dashboard.view_metric" not in me(member_client)["permissions"]
    assert member_client.get(METRICS).status_code == HTTPStatus.FORBIDDEN


@pytest_db
def test_a_renamed_role_shows_on_the_next_request(role, member_client):
    fresh = Group.objects.get(pk=role.pk)
    fresh.name = "writers"
    fresh.save()
    assert me(member_client)["roles"] == ["writers"]


@pytest_db
@pytest.mark.parametrize("through_save", [True, False], ids=["save", "queryset-update"])
def test_superuser_flag_and_deactivation_without_signals(member, member_client, through_save):
    if through_save:
        fresh = User.objects.get(pk=member.pk)
        fresh.is_superuser = True
        fresh.save()
    else:
        User.objects.filter(pk=member.pk).update(is_superuser=True)
    assert len(me(member_client)["permissions"]) == Permission.objects.count()
    User.objects.filter(pk=member.pk).update(is_active=False)
    assert member_client.get(ME).status_code == HTTPStatus.UNAUTHORIZED


@pytest_db
def test_mfa_confirmation_and_removal_show_on_the_next_request(member, member_client):
    device = TOTPDevice.objects.create(user=member, name="default", confirmed=False)
    assert me(member_client)["mfa_enabled"] is False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    assert me(member_client)["mfa_enabled"] is True
    TOTPDevice.objects.filter(user=member).delete()
    assert me(member_client)["mfa_enabled"] is False


@pytest_db
def test_a_rolled_back_grant_leaves_nothing_behind(role, member, member_client):
    with contextlib.suppress(RuntimeError), transaction.atomic():
        role.permissions.add(permission("dashboard.add_metric"))
        # Computed (and cached) inside the transaction, under the transaction's own stamp.
        assert "dashboard.add_metric" in access_profile(User.objects.get(pk=member.pk)).permissions
        raise RuntimeError("roll back")
    assert me(member_client)["permissions"] == ["dashboard.view_metric"]
    role.permissions.add(permission("dashboard.change_metric"))  # a new stamp: never the rolled-back one
    assert me(member_client)["permissions"] == ["dashboard.change_metric", "dashboard.view_metric"]


@pytest_db
def test_a_data_migration_granting_a_permission_shows_after_migrate(role, member_client):
    from django.core.management.sql import emit_post_migrate_signal
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    historical = executor.loader.project_state().apps  # what a RunPython data migration is given
    group = historical.get_model("auth", "Group").objects.get(pk=role.pk)
    historical_permission = historical.get_model("auth", "Permission")
    group.permissions.add(historical_permission.objects.get(codename="add_metric", content_type__app_label="dashboard"))
    assert "dashboard.add_metric" not in me(member_client)["permissions"]  # no signal reached the receivers
    migration = executor.loader.graph.nodes[("accounts", "0007_user_authz_version")]
    emit_post_migrate_signal(0, False, "default", plan=[(migration, False)])  # the end of that `migrate`
    assert "dashboard.add_metric" in me(member_client)["permissions"]


@pytest_db
def test_changes_in_the_same_request_are_seen_by_the_changed_instance(role, member):
    user = User.objects.get(pk=member.pk)
    assert user.has_perm("dashboard.view_metric")
    user.groups.remove(role)
    assert not user.has_perm("dashboard.view_metric")


@pytest_db
def test_an_api_keys_scopes_still_cap_the_cached_permissions(role, member):
    client = api_key_client(member, ["dashboard.view_metric"])
    role.permissions.add(permission("dashboard.add_metric"))
    assert me(client)["permissions"] == ["dashboard.view_metric"]  # scopes ∩ the owner's, not the owner's set
    role.permissions.remove(permission("dashboard.view_metric"))
    assert me(client)["permissions"] == []
    assert client.get(METRICS).status_code == HTTPStatus.FORBIDDEN


# --- Across processes: a change made here is seen by the next request to other server processes -----------------


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def server(tmp_path: Path, name: str):
    """A one-worker gunicorn with the production settings on the test database and the shared cache."""
    log = tmp_path / f"{name}.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("POSTGRES_", "CELERY_"))}
    env.update(
        DATABASE_URL=_database_url(),
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        CACHE_DIR=str(tmp_path / "cache"),  # shared by both servers when REDIS_URL is unset
        CACHE_KEY_PREFIX=f"authz-test-{tmp_path.name}",
        LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", "127.0.0.1:0", "--workers", "1"]
    command += ["--log-level", "info"]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None or not port_open("127.0.0.1", port):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
            for line in log.read_text().splitlines():
                if "Listening at: http://127.0.0.1:" in line:
                    port = int(line.rsplit(":", 1)[1].split()[0])
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def call(base: str, token: str, path: str = ME, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_changes_are_seen_by_the_next_request_in_other_processes(tmp_path):
    role = RoleFactory(name="reporters", permissions=["dashboard.view_metric", "dashboard.add_metric"])
    user = UserFactory()
    user.groups.add(role)
    admin = UserFactory(is_superuser=True, is_staff=True)
    token = token_pair_issue(user=user)["access"]
    admin_token = token_pair_issue(user=admin)["access"]
    with server(tmp_path, "one") as one, server(tmp_path, "two") as two:
        for base in (one, two):  # both processes hold the profile now
            status, body = call(base, token)
            assert (status, body["permissions"]) == (HTTPStatus.OK, ["dashboard.add_metric", "dashboard.view_metric"])

        # A role's permissions changed in this process.
        role.permissions.remove(permission("dashboard.add_metric"))
        assert call(two, token)[1]["permissions"] == ["dashboard.view_metric"]
        assert call(one, token, METRICS, "POST", {"name": "m", "value": 1})[0] == HTTPStatus.FORBIDDEN

        # Membership changed through the API of server one: server two sees it on the next request.
        viewer = RoleFactory(name="watchers", permissions=["dashboard.view_kpi"])
        status, _ = call(one, admin_token, f"{API}/admin/users/{user.pk}", "PATCH", {"roles": [viewer.name]})
        assert status == HTTPStatus.OK
        status, body = call(two, token)
        assert (body["roles"], body["permissions"]) == (["watchers"], ["dashboard.view_kpi"])
        assert call(two, token, METRICS)[0] == HTTPStatus.FORBIDDEN

        # A flag set behind the ORM's back (no signal), then a deactivation.
        User.objects.filter(pk=user.pk).update(is_superuser=True)
        assert len(call(one, token)[1]["permissions"]) == Permission.objects.count()
        User.objects.filter(pk=user.pk).update(is_active=False)
        assert call(two, token)[0] == HTTPStatus.UNAUTHORIZED
        assert call(one, token)[0] == HTTPStatus.UNAUTHORIZED


@pytest_db
def test_the_token_users_row_is_the_orms(member, django_assert_num_queries):
    from django.utils import timezone

    from accounts.authentication import user_by_id

    User.objects.filter(pk=member.pk).update(last_login=timezone.now())
    expected = User.objects.get(pk=member.pk)
    with django_assert_num_queries(1):
        user = user_by_id(member.pk)
    assert user is not None
    assert user.last_login is not None
    fields = [field.attname for field in User._meta.concrete_fields]
    assert [getattr(user, name) for name in fields] == [getattr(expected, name) for name in fields]
    assert timezone.is_aware(user.last_login)
    assert timezone.is_aware(user.date_joined)
    assert user._state.adding is False
    assert user._state.db == "default"
    assert user_by_id(member.pk + 10_000) is None


@pytest_db
def test_the_api_keys_row_and_its_owner_are_the_orms(member, django_assert_num_queries):
    from accounts.models import ApiKey
    from accounts.services.api_keys import _KEY_BY_PREFIX
    from accounts.tests.factories import api_key_issue

    issued = api_key_issue(member, ["dashboard.view_metric"])
    expected = ApiKey.objects.select_related("user").get(pk=issued.api_key.pk)
    with django_assert_num_queries(1):
        api_key = _KEY_BY_PREFIX.get(issued.api_key.prefix)
        assert api_key is not None
        owner = api_key.user  # loaded with the key, no second query
    for model, got, want in ((ApiKey, api_key, expected), (User, owner, expected.user)):
        fields = [field.attname for field in model._meta.concrete_fields]
        assert [getattr(got, name) for name in fields] == [getattr(want, name) for name in fields]
    assert api_key.scopes == issued.api_key.scopes
    assert api_key._state.adding is False
    assert _KEY_BY_PREFIX.get("0" * 12) is None
