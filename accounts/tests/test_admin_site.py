"""The Django admin for users and roles: lists, actions, validated passwords and the no-escalation rules."""

from http import HTTPStatus

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission

from accounts.models import Role, User
from accounts.tests.factories import RoleFactory, UserFactory, UserWithRolesFactory, protected_user
from dashboard.tests.factories import MetricFactory

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"
ROLES = "/admin/accounts/role/"
ME = "/api/v1/users/me"
NEW_PASSWORD = "an-entirely-new-passphrase-7"


@pytest.fixture
def staff_user_admin():
    """A staff member (may log into the admin) with the seeded user_admin role."""
    return UserWithRolesFactory(roles=["user_admin"], is_staff=True)


@pytest.fixture
def ordinary():
    return UserWithRolesFactory(roles=["viewer"], email="plain@example.com", full_name="Plain Person")


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def change_form_data(user: User, **overrides) -> dict:
    """What the change form posts for *user* when its editable fields are left as they are."""
    data = {
        "email": user.email,
        "full_name": user.full_name,
        "groups": [group.pk for group in user.groups.all()],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    if user.is_active:
        data["is_active"] = "on"
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- Registration and lists ------------------------------------------------------------------------------------


def test_roles_replace_groups_in_the_admin(admin_client_for, superuser):
    assert admin.site.is_registered(Role)
    assert not admin.site.is_registered(Group)
    index = admin_client_for(superuser).get("/admin/")
    assert index.status_code == HTTPStatus.OK
    assert "Roles" in index.content.decode()
    assert "/admin/auth/group/" not in index.content.decode()


def test_user_list_shows_email_name_roles_activity_and_last_login(admin_client_for, superuser, ordinary):
    response = admin_client_for(superuser).get(USERS)
    assert response.status_code == HTTPStatus.OK
    assert response.context["cl"].list_display[1:] == [
        "email",
        "full_name",
        "roles",
        "is_active",
        "two_factor",
        "last_login",
    ]
    html = response.content.decode()
    assert "plain@example.com" in html
    assert "Plain Person" in html
    assert "viewer" in html


def test_user_list_queries_do_not_grow_with_users(admin_client_for, superuser, django_assert_max_num_queries):
    UserWithRolesFactory.create_batch(30, roles=["viewer", "analyst"])
    client = admin_client_for(superuser)
    with django_assert_max_num_queries(15):
        assert client.get(USERS).status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "ALICE"}, {"alice@example.com"}),
        ({"q": "Jones"}, {"carol@example.com"}),
        ({"is_active__exact": "0"}, {"bob@example.com"}),
        ({"is_staff__exact": "1"}, {"root@example.com", "staff@example.com"}),
        ({"is_superuser__exact": "1"}, {"root@example.com"}),
        ({"groups": "analyst"}, {"alice@example.com"}),
    ],
)
def test_user_list_search_and_filters(admin_client_for, params, expected):
    UserWithRolesFactory(email="alice@example.com", full_name="Alice Smith", roles=["analyst"])
    UserWithRolesFactory(email="bob@example.com", full_name="Bob Smith", is_active=False, roles=["viewer"])
    UserWithRolesFactory(email="carol@example.com", full_name="Carol Jones", roles=["viewer"])
    UserFactory(email="staff@example.com", full_name="Staff", is_staff=True)
    root = UserFactory(email="root@example.com", full_name="Root", is_superuser=True, is_staff=True)
    if params.get("groups"):
        params = {"groups__id__exact": Group.objects.get(name=params["groups"]).pk}
    response = admin_client_for(root).get(USERS, params)
    assert response.status_code == HTTPStatus.OK
    assert {user.email for user in response.context["cl"].result_list} == expected


# --- Adding users and setting passwords ------------------------------------------------------------------------


@pytest.mark.parametrize("weak", ["short", "password12345", "12345678901234567", "new.person@example.com"])
def test_add_form_runs_the_password_validators(admin_client_for, superuser, weak):
    data = {"email": "new.person@example.com", "full_name": "New", "password1": weak, "password2": weak}
    response = admin_client_for(superuser).post(f"{USERS}add/", data)
    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["password2"]
    assert not User.objects.filter(email="new.person@example.com").exists()


def test_add_form_creates_a_user_with_a_strong_password(admin_client_for, staff_user_admin):
    data = {"email": "New.Person@EXAMPLE.com", "full_name": "New", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    response = admin_client_for(staff_user_admin).post(f"{USERS}add/", data)
    assert response.status_code == HTTPStatus.FOUND
    created = User.objects.get(email="New.Person@example.com")
    assert created.check_password(NEW_PASSWORD)
    assert (created.is_staff, created.is_superuser) == (False, False)


def test_add_form_rejects_an_email_taken_in_another_case(admin_client_for, superuser, ordinary):
    data = {"email": "PLAIN@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    response = admin_client_for(superuser).post(f"{USERS}add/", data)
    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["email"]
    assert User.objects.filter(email__iexact="plain@example.com").count() == 1


def test_admin_password_change_is_validated_and_revokes_tokens(admin_client_for, client_for, superuser, ordinary):
    api_client = client_for(ordinary)
    client = admin_client_for(superuser)
    url = f"{USERS}{ordinary.pk}/password/"
    weak = client.post(url, {"password1": "short", "password2": "short", "usable_password": "true"})
    assert weak.status_code == HTTPStatus.OK
    assert weak.context["form"].errors
    assert api_client.get(ME).status_code == HTTPStatus.OK

    response = client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"})
    assert response.status_code == HTTPStatus.FOUND
    ordinary.refresh_from_db()
    assert ordinary.check_password(NEW_PASSWORD)
    assert api_client.get(ME).json()["code"] == "token_not_valid"


# --- Activation and deactivation -------------------------------------------------------------------------------


def test_deactivate_action_revokes_the_users_tokens(admin_client_for, client_for, superuser, audit_log):
    targets = UserWithRolesFactory.create_batch(2, roles=["viewer"])
    api_clients = [client_for(target) for target in targets]
    bystander = UserFactory()
    audit_log.clear()
    response = admin_client_for(superuser).post(
        USERS, {"action": "deactivate_users", "_selected_action": [target.pk for target in targets]}
    )
    assert response.status_code == HTTPStatus.FOUND
    for target, api_client in zip(targets, api_clients, strict=True):
        target.refresh_from_db()
        assert not target.is_active
        assert api_client.get(ME).json()["code"] == "token_not_valid"
    bystander.refresh_from_db()
    assert bystander.is_active
    revoked = {record.user_id for record in audit_log.events("tokens_revoked")}
    assert revoked == {target.pk for target in targets}


def test_activate_action(admin_client_for, superuser):
    target = UserFactory(is_active=False)
    response = admin_client_for(superuser).post(USERS, {"action": "activate_users", "_selected_action": [target.pk]})
    assert response.status_code == HTTPStatus.FOUND
    target.refresh_from_db()
    assert target.is_active


def test_deactivate_action_by_non_superuser_skips_protected_users(admin_client_for, staff_user_admin, ordinary):
    staff = UserFactory(is_staff=True)
    response = admin_client_for(staff_user_admin).post(
        USERS,
        {"action": "deactivate_users", "_selected_action": [ordinary.pk, staff.pk, staff_user_admin.pk]},
        follow=True,
    )
    assert response.status_code == HTTPStatus.OK
    for user in (ordinary, staff, staff_user_admin):
        user.refresh_from_db()
    assert not ordinary.is_active
    assert staff.is_active
    assert staff_user_admin.is_active
    assert "2 user(s) skipped" in response.content.decode()


def test_deactivation_in_the_change_form_revokes_tokens(admin_client_for, client_for, superuser, ordinary):
    api_client = client_for(ordinary)
    response = admin_client_for(superuser).post(
        f"{USERS}{ordinary.pk}/change/", change_form_data(ordinary, is_active=None)
    )
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].form.errors
    ordinary.refresh_from_db()
    assert not ordinary.is_active
    assert api_client.get(ME).json()["code"] == "token_not_valid"


# --- No privilege escalation for non-superusers ----------------------------------------------------------------


def test_non_superuser_sees_account_flags_and_permissions_read_only(admin_client_for, staff_user_admin, ordinary):
    response = admin_client_for(staff_user_admin).get(f"{USERS}{ordinary.pk}/change/")
    assert response.status_code == HTTPStatus.OK
    form = response.context["adminform"].form
    assert {"is_staff", "is_superuser", "user_permissions"}.isdisjoint(form.fields)
    assert {"email", "full_name", "is_active", "groups"} <= set(form.fields)
    offered = {role.name for role in form.fields["groups"].queryset}
    assert {"viewer", "analyst", "manager"} <= offered
    assert "user_admin" not in offered


def test_superuser_edits_account_flags_and_every_role(admin_client_for, superuser, ordinary):
    form = admin_client_for(superuser).get(f"{USERS}{ordinary.pk}/change/").context["adminform"].form
    assert {"is_staff", "is_superuser", "user_permissions", "groups"} <= set(form.fields)
    assert "user_admin" in {role.name for role in form.fields["groups"].queryset}


def test_non_superuser_changes_an_ordinary_user(admin_client_for, staff_user_admin, ordinary, audit_log):
    analyst = Group.objects.get(name="analyst")
    data = change_form_data(ordinary, full_name="Renamed", groups=[analyst.pk], is_superuser="on", is_staff="on")
    response = admin_client_for(staff_user_admin).post(f"{USERS}{ordinary.pk}/change/", data)
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].form.errors
    ordinary.refresh_from_db()
    assert ordinary.full_name == "Renamed"
    assert [group.name for group in ordinary.groups.all()] == ["analyst"]
    # Read-only fields posted anyway are ignored.
    assert (ordinary.is_staff, ordinary.is_superuser) == (False, False)
    [event] = audit_log.events("user_roles_changed")
    assert (event.user_id, event.target_id, event.added, event.removed) == (
        staff_user_admin.pk,
        ordinary.pk,
        ["analyst"],
        ["viewer"],
    )


def test_non_superuser_cannot_grant_a_privileged_role(admin_client_for, staff_user_admin, ordinary):
    privileged = Group.objects.get(name="user_admin")
    data = change_form_data(ordinary, groups=[privileged.pk])
    response = admin_client_for(staff_user_admin).post(f"{USERS}{ordinary.pk}/change/", data)
    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["groups"]
    assert [group.name for group in ordinary.groups.all()] == ["viewer"]


@pytest.mark.parametrize("kind", ["self", "staff", "superuser", "privileged role"])
def test_non_superuser_cannot_change_or_delete_protected_users(admin_client_for, kind):
    RoleFactory(
        name="full_user_admin", permissions=["accounts.view_user", "accounts.change_user", "accounts.delete_user"]
    )
    caller = UserWithRolesFactory(roles=["full_user_admin"], is_staff=True)
    target = protected_user(kind, caller)
    client = admin_client_for(caller)

    page = client.get(f"{USERS}{target.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert page.context["has_change_permission"] is False
    response = client.post(f"{USERS}{target.pk}/change/", change_form_data(target, full_name="Hijacked"))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert client.post(f"{USERS}{target.pk}/delete/", {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"{USERS}{target.pk}/password/").status_code == HTTPStatus.FORBIDDEN
    target.refresh_from_db()
    assert target.full_name != "Hijacked"


def test_non_superuser_bulk_delete_refuses_a_selection_with_a_protected_user(admin_client_for, ordinary):
    RoleFactory(
        name="full_user_admin", permissions=["accounts.view_user", "accounts.change_user", "accounts.delete_user"]
    )
    caller = UserWithRolesFactory(roles=["full_user_admin"], is_staff=True)
    staff = UserFactory(is_staff=True)
    response = admin_client_for(caller).post(
        USERS, {"action": "delete_selected", "_selected_action": [ordinary.pk, staff.pk], "post": "yes"}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert User.objects.filter(pk__in=[ordinary.pk, staff.pk]).count() == 2


def test_bulk_delete_goes_through_the_service(admin_client_for, superuser, audit_log):
    targets = UserFactory.create_batch(2)
    response = admin_client_for(superuser).post(
        USERS, {"action": "delete_selected", "_selected_action": [user.pk for user in targets], "post": "yes"}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert not User.objects.filter(pk__in=[user.pk for user in targets]).exists()
    assert {event.target_id for event in audit_log.events("user_deleted")} == {user.pk for user in targets}


def test_non_superuser_deletes_an_ordinary_user(admin_client_for, ordinary, audit_log):
    RoleFactory(
        name="full_user_admin", permissions=["accounts.view_user", "accounts.change_user", "accounts.delete_user"]
    )
    caller = UserWithRolesFactory(roles=["full_user_admin"], is_staff=True)
    response = admin_client_for(caller).post(f"{USERS}{ordinary.pk}/delete/", {"post": "yes"})
    assert response.status_code == HTTPStatus.FOUND
    assert not User.objects.filter(pk=ordinary.pk).exists()
    [event] = audit_log.events("user_deleted")
    assert (event.user_id, event.target_id) == (caller.pk, ordinary.pk)


def test_deleting_a_user_who_owns_metrics_is_refused(admin_client_for, superuser, ordinary):
    MetricFactory(owner=ordinary)
    response = admin_client_for(superuser).post(f"{USERS}{ordinary.pk}/delete/", {"post": "yes"})
    assert response.status_code == HTTPStatus.OK
    assert response.context["protected"]
    assert User.objects.filter(pk=ordinary.pk).exists()


# --- Roles -----------------------------------------------------------------------------------------------------


def test_non_superuser_with_view_group_reads_roles_only(admin_client_for, staff_user_admin):
    client = admin_client_for(staff_user_admin)
    role = Role.objects.get(name="viewer")
    changelist = client.get(ROLES)
    assert changelist.status_code == HTTPStatus.OK
    assert "user_admin" in changelist.content.decode()
    page = client.get(f"{ROLES}{role.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert page.context["has_change_permission"] is False
    assert client.get(f"{ROLES}add/").status_code == HTTPStatus.FORBIDDEN
    assert client.post(f"{ROLES}{role.pk}/change/", {"name": "renamed"}).status_code == HTTPStatus.FORBIDDEN
    assert client.post(f"{ROLES}{role.pk}/delete/", {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    assert Role.objects.filter(name="viewer").exists()


def test_roles_need_view_group(admin_client_for):
    RoleFactory(name="users_only", permissions=["accounts.view_user"])
    caller = UserWithRolesFactory(roles=["users_only"], is_staff=True)
    assert admin_client_for(caller).get(ROLES).status_code == HTTPStatus.FORBIDDEN


def test_role_model_permissions_alone_do_not_allow_writes(admin_client_for):
    RoleFactory(name="role_editor", permissions=["auth.view_group", "auth.add_group", "auth.change_group"])
    caller = UserWithRolesFactory(roles=["role_editor"], is_staff=True)
    assert admin_client_for(caller).get(f"{ROLES}add/").status_code == HTTPStatus.FORBIDDEN


def test_superuser_adds_changes_and_deletes_a_role(admin_client_for, superuser, audit_log):
    client = admin_client_for(superuser)
    view_user = Permission.objects.get(content_type__app_label="accounts", codename="view_user")
    view_group = Permission.objects.get(content_type__app_label="auth", codename="view_group")

    response = client.post(f"{ROLES}add/", {"name": "auditor", "permissions": [view_user.pk]})
    assert response.status_code == HTTPStatus.FOUND
    role = Role.objects.get(name="auditor")
    assert list(role.permissions.all()) == [view_user]
    [created] = audit_log.events("role_created")
    assert (created.user_id, created.role_id, created.permissions) == (superuser.pk, role.pk, ["accounts.view_user"])

    response = client.post(f"{ROLES}{role.pk}/change/", {"name": "inspector", "permissions": [view_group.pk]})
    assert response.status_code == HTTPStatus.FOUND
    role.refresh_from_db()
    assert role.name == "inspector"
    assert list(role.permissions.all()) == [view_group]
    [updated] = audit_log.events("role_updated")
    assert (updated.renamed_from, updated.added, updated.removed) == (
        "auditor",
        ["auth.view_group"],
        ["accounts.view_user"],
    )

    assert client.post(f"{ROLES}{role.pk}/delete/", {"post": "yes"}).status_code == HTTPStatus.FOUND
    assert not Group.objects.filter(pk=role.pk).exists()
    [deleted] = audit_log.events("role_deleted")
    assert (deleted.user_id, deleted.role) == (superuser.pk, "inspector")


def test_role_list_marks_privileged_roles(admin_client_for, superuser):
    response = admin_client_for(superuser).get(ROLES)
    rows = {role.name: role for role in response.context["cl"].result_list}
    model_admin = response.context["cl"].model_admin
    assert model_admin.privileged(rows["user_admin"]) is True
    assert model_admin.privileged(rows["viewer"]) is False
