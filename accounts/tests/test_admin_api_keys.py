"""The Django admin for API keys: read-only lists (never a digest or secret), per-user table, the revoke action."""

from http import HTTPStatus

import pytest

from accounts.models import ApiKey
from accounts.tests.factories import RoleFactory, UserFactory, UserWithRolesFactory, api_key_issue, key_secret

pytestmark = pytest.mark.django_db

KEYS = "/admin/accounts/apikey/"


@pytest.fixture
def owner(user_with_role):
    return user_with_role("analyst", email="robot-owner@example.com")


@pytest.fixture
def issued(owner):
    return api_key_issue(owner, ["dashboard.add_metric"], name="nightly-etl")


def admin_client(client, user):
    client.force_login(user)
    return client


def test_staff_user_admin_lists_keys_without_digest_or_secret(client, issued):
    staff = UserWithRolesFactory(roles=["user_admin"], is_staff=True)
    page = admin_client(client, staff).get(KEYS)
    assert page.status_code == HTTPStatus.OK
    text = page.content.decode()
    assert "nightly-etl" in text
    assert issued.api_key.prefix in text
    assert "dashboard.add_metric" in text
    assert issued.api_key.digest not in text
    assert key_secret(issued.key) not in text
    detail = client.get(f"{KEYS}{issued.api_key.pk}/change/")
    assert detail.status_code == HTTPStatus.OK
    assert issued.api_key.digest not in detail.content.decode()
    assert b'name="name"' not in detail.content  # read-only: no inputs
    assert client.get(f"{KEYS}add/").status_code == HTTPStatus.FORBIDDEN


def test_keys_are_listed_on_their_owners_page(client, owner, issued):
    staff = UserWithRolesFactory(roles=["user_admin"], is_staff=True)
    page = admin_client(client, staff).get(f"/admin/accounts/user/{owner.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    text = page.content.decode()
    assert "API keys" in text
    assert "nightly-etl" in text
    assert issued.api_key.prefix in text
    assert issued.api_key.digest not in text


def test_revoke_action_revokes_and_audits(client, issued, audit_log):
    staff = UserWithRolesFactory(roles=["user_admin"], is_staff=True)
    other = api_key_issue(issued.api_key.user, ["dashboard.add_metric"], name="other")
    response = admin_client(client, staff).post(
        KEYS, {"action": "revoke_keys", "_selected_action": [issued.api_key.pk]}, follow=True
    )
    assert response.status_code == HTTPStatus.OK
    assert "1 API key(s) revoked." in response.content.decode()
    issued.api_key.refresh_from_db()
    other.api_key.refresh_from_db()
    assert issued.api_key.revoked_at is not None
    assert other.api_key.revoked_at is None
    (event,) = audit_log.events("api_key_revoked")
    assert (event.user_id, event.api_key_id) == (staff.pk, issued.api_key.pk)


def test_staff_with_view_only_get_no_revoke_action(client, issued):
    RoleFactory(name="key-auditor", permissions=["accounts.view_apikey"])
    staff = UserWithRolesFactory(roles=["key-auditor"], is_staff=True)
    page = admin_client(client, staff).get(KEYS)
    assert page.status_code == HTTPStatus.OK
    assert b"revoke_keys" not in page.content
    client.post(KEYS, {"action": "revoke_keys", "_selected_action": [issued.api_key.pk]})
    issued.api_key.refresh_from_db()
    assert issued.api_key.revoked_at is None


def test_staff_without_the_permission_see_nothing(client, owner, issued):
    staff = UserWithRolesFactory(roles=["viewer"], is_staff=True)
    staff.user_permissions.add(*RoleFactory(permissions=["accounts.view_user"]).permissions.all())
    admin_client(client, staff)
    assert client.get(KEYS).status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"{KEYS}{issued.api_key.pk}/change/").status_code == HTTPStatus.FORBIDDEN
    user_page = client.get(f"/admin/accounts/user/{owner.pk}/change/")
    assert user_page.status_code == HTTPStatus.OK
    assert "nightly-etl" not in user_page.content.decode()
    assert "API keys" not in user_page.content.decode()
    index = client.get("/admin/").content.decode()
    assert "API keys" not in index
    client.post(KEYS, {"action": "revoke_keys", "_selected_action": [issued.api_key.pk]})
    assert ApiKey.objects.get().revoked_at is None


def test_superuser_cannot_add_or_delete_keys_in_the_admin(client, issued):
    admin_client(client, UserFactory(is_superuser=True, is_staff=True))
    assert client.get(f"{KEYS}add/").status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"{KEYS}{issued.api_key.pk}/delete/").status_code == HTTPStatus.FORBIDDEN
    assert b"delete_selected" not in client.get(KEYS).content
