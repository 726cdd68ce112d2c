"""The admin and two-factor authentication: the login form's code, the enrolment gate (ADMIN_REQUIRE_MFA), the
enrolment page, and the reset action under the no-escalation rules."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import RecoveryCode
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory, UserWithRolesFactory
from accounts.tests.mfa import fresh_code, mfa_enable, wrong_code

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
ENROL = "/admin/mfa/enrol/"
INDEX = "/admin/"
USERS = "/admin/accounts/user/"


@pytest.fixture
def require_mfa(settings):
    settings.ADMIN_REQUIRE_MFA = True


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True, email="staff@example.com")


def admin_login(client, user, code: str | None = None):
    data = {"username": user.email, "password": DEFAULT_PASSWORD, "next": INDEX}
    if code is not None:
        data["otp_token"] = code
    return client.post(LOGIN, data)


# --- login --------------------------------------------------------------------------------------------------


def test_login_form_shows_the_code_field(client):
    response = client.get(LOGIN)
    assert response.status_code == HTTPStatus.OK
    assert 'name="otp_token"' in response.content.decode()


def test_staff_without_mfa_log_in_with_the_password_when_not_required(client, staff):
    response = admin_login(client, staff)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == INDEX
    assert client.get(INDEX).status_code == HTTPStatus.OK


def test_staff_with_mfa_need_the_code(client, staff):
    mfa_enable(staff)
    response = admin_login(client, staff)
    assert response.status_code == HTTPStatus.OK
    assert "Enter the code" in response.content.decode()
    assert client.get(INDEX).status_code == HTTPStatus.FOUND  # still logged out


def test_staff_with_mfa_and_a_wrong_code_stay_out(client, staff):
    mfa_enable(staff)
    response = admin_login(client, staff, wrong_code(staff))
    assert "The code is not correct." in response.content.decode()
    assert client.get(INDEX)["Location"].startswith(LOGIN)


def test_a_wrong_password_does_not_ask_for_the_code(client, staff):
    mfa_enable(staff)
    response = client.post(LOGIN, {"username": staff.email, "password": "wrong-password-123"})
    body = response.content.decode()
    assert "Enter the code" not in body
    assert "correct email address and password" in body or "Please enter the correct" in body


def test_staff_with_mfa_log_in_with_a_code(client, staff, require_mfa):
    mfa_enable(staff)
    response = admin_login(client, staff, fresh_code(staff))
    assert response.status_code == HTTPStatus.FOUND
    assert client.get(INDEX).status_code == HTTPStatus.OK
    assert client.get(USERS).status_code == HTTPStatus.OK


def test_staff_log_in_with_a_recovery_code_once(client, staff):
    codes = mfa_enable(staff)
    assert admin_login(client, staff, codes[0]).status_code == HTTPStatus.FOUND
    client.logout()
    again = admin_login(client, staff, codes[0])
    assert again.status_code == HTTPStatus.OK
    assert "The code is not correct." in again.content.decode()


def test_a_session_without_the_code_is_sent_back_to_login(client, staff):
    """Logged in with the password before enrolling (here: force_login): the next admin page asks for the code."""
    mfa_enable(staff)
    client.force_login(staff)
    response = client.get(USERS)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(LOGIN)
    assert client.get(INDEX)["Location"].startswith(LOGIN)


# --- the enrolment gate -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [INDEX, USERS, "/admin/dashboard/kpi/overview/", "/admin/password_change/"])
def test_staff_without_mfa_are_sent_to_enrol_before_any_admin_page(client, staff, require_mfa, path):
    client.force_login(staff)
    response = client.get(path)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == ENROL


def test_login_lands_on_enrolment(client, staff, require_mfa):
    response = admin_login(client, staff)
    assert response.status_code == HTTPStatus.FOUND
    assert client.get(response["Location"])["Location"] == ENROL


def test_gate_leaves_non_admin_paths_and_non_staff_alone(client, require_mfa):
    user = UserFactory()
    client.force_login(user)
    assert client.get("/healthz").status_code == HTTPStatus.OK
    # Not staff: the admin's own login redirect, not the enrolment page.
    assert client.get(INDEX)["Location"].startswith(LOGIN)


def test_enrolment_page_shows_an_inline_svg_qr_code_and_confirms(client, staff, require_mfa, audit_log):
    client.force_login(staff)
    page = client.get(ENROL)
    assert page.status_code == HTTPStatus.OK
    body = page.content.decode()
    assert '<svg width="' in body
    assert 'class="mfa-qr"' in body
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    assert client.get(ENROL).status_code == HTTPStatus.OK
    assert TOTPDevice.objects.get(user=staff, confirmed=False).pk == device.pk  # a reload keeps the same secret

    wrong = client.post(ENROL, {"code": wrong_code(staff)})
    assert "The code is not correct." in wrong.content.decode()

    done = client.post(ENROL, {"code": "junk"})
    assert done.status_code == HTTPStatus.OK
    assert "6-digit" in done.content.decode()


def test_confirming_shows_recovery_codes_once_and_opens_the_admin(client, staff, require_mfa, settings, audit_log):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client.force_login(staff)
    client.get(ENROL)
    response = client.post(ENROL, {"code": fresh_code(staff, confirmed=False)})
    body = response.content.decode()
    codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>", body)
    assert len(codes) == 10
    assert RecoveryCode.objects.filter(user=staff, used_at__isnull=True).count() == 10
    assert audit_log.events("mfa_enabled")
    # The session that enrolled is verified: the admin opens.
    assert client.get(INDEX).status_code == HTTPStatus.OK
    assert client.get(USERS).status_code == HTTPStatus.OK
    # Enrolled: the page sends them on.
    assert client.get(ENROL)["Location"] == INDEX


def test_enrolment_page_needs_a_staff_login(client):
    assert client.get(ENROL)["Location"].startswith(LOGIN)


# --- the reset action ---------------------------------------------------------------------------------------


def reset_action(client, *users):
    return client.post(USERS, {"action": "reset_mfa", "_selected_action": [user.pk for user in users]}, follow=True)


def test_user_admin_resets_ordinary_users_but_not_staff(client, audit_log):
    user_admin = UserWithRolesFactory(roles=["user_admin"], is_staff=True)
    ordinary = UserFactory()
    staff_member = UserFactory(is_staff=True)
    for user in (ordinary, staff_member):
        mfa_enable(user)
    client.force_login(user_admin)
    response = reset_action(client, ordinary, staff_member)
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert "1 user(s)" in body
    assert "skipped" in body
    assert not TOTPDevice.objects.filter(user=ordinary).exists()
    assert TOTPDevice.objects.filter(user=staff_member, confirmed=True).exists()
    [event] = audit_log.events("mfa_reset")
    assert (event.user_id, event.target_id) == (user_admin.pk, ordinary.pk)


def test_superuser_resets_a_superusers_mfa(client, staff):
    other = UserFactory(is_superuser=True, is_staff=True)
    mfa_enable(other)
    client.force_login(staff)
    reset_action(client, other)
    assert not TOTPDevice.objects.filter(user=other).exists()


def test_totp_devices_are_not_in_the_admin(client, staff):
    client.force_login(staff)
    assert client.get("/admin/otp_totp/totpdevice/").status_code == HTTPStatus.NOT_FOUND


def test_user_list_shows_who_has_two_factor(client, staff):
    with_mfa = UserFactory(email="with@example.com")
    mfa_enable(with_mfa)
    UserFactory(email="without@example.com")
    client.force_login(staff)
    response = client.get(USERS)
    assert "two_factor" in response.context["cl"].list_display
    shown = {user.email: user.mfa_on for user in response.context["cl"].result_list}
    assert shown == {"with@example.com": True, "without@example.com": False, staff.email: False}
