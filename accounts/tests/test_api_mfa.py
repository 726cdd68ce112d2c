"""Two-factor authentication through HTTP with real tokens: enrolment, the two-step login, recovery codes, disabling,
the administrators' reset, and every bad input as a clear 4xx."""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import RecoveryCode
from accounts.services.tokens import token_pair_issue
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory, UserWithRolesFactory, protected_user
from accounts.tests.mfa import fresh_code, mfa_enable, wrong_code

pytestmark = pytest.mark.django_db

API = "/api/v1"


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def login(email: str, password: str = DEFAULT_PASSWORD):
    return APIClient().post(f"{API}/auth/login", {"email": email, "password": password}, format="json")


def login_mfa(mfa_token: str, code: str):
    return APIClient().post(f"{API}/auth/login/mfa", {"mfa_token": mfa_token, "code": code}, format="json")


def mfa_token_for(user) -> str:
    response = login(user.email)
    assert response.status_code == HTTPStatus.OK
    return response.json()["mfa_token"]


@pytest.fixture
def mfa_user(db):
    user = UserFactory(email="two@example.com")
    user.recovery_codes_shown = mfa_enable(user)  # type: ignore[attr-defined]  # a test-only attribute the fixture's user carries
    return user


@pytest.fixture
def no_backoff(settings):
    """Turn off django-otp's exponential back-off, for tests that send several wrong codes in a row."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


# --- enrolment ---------------------------------------------------------------------------------------------


def test_enrolment_gives_secret_uri_and_server_rendered_qr(user, user_client):
    response = user_client.post(f"{API}/users/me/mfa/totp")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    assert body["otpauth_uri"].startswith("otpauth://totp/Dashboard%3A")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert "algorithm=SHA1" in body["otpauth_uri"]
    assert "digits=6" in body["otpauth_uri"]
    assert "period=30" in body["otpauth_uri"]
    assert "issuer=Dashboard" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("<svg")
    assert "<path" in body["qr_svg"]
    assert "style" not in body["qr_svg"]
    assert "<script" not in body["qr_svg"]
    # Pending until confirmed.
    assert user_client.get(f"{API}/users/me").json()["mfa_enabled"] is False
    assert login(user.email).json().keys() == {"access", "refresh"}


def test_second_enrolment_replaces_the_pending_one(user, user_client, no_backoff):
    first = user_client.post(f"{API}/users/me/mfa/totp").json()["secret"]
    old_code = fresh_code(user, confirmed=False)
    second = user_client.post(f"{API}/users/me/mfa/totp").json()["secret"]
    assert first != second
    assert TOTPDevice.objects.filter(user=user).count() == 1
    new_code = fresh_code(user, confirmed=False)
    if old_code != new_code:
        response = user_client.post(f"{API}/users/me/mfa/totp/confirm", {"code": old_code}, format="json")
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert "code" in response.json()["errors"]
    response = user_client.post(f"{API}/users/me/mfa/totp/confirm", {"code": new_code}, format="json")
    assert response.status_code == HTTPStatus.OK


def test_confirm_turns_mfa_on_returns_ten_codes_and_revokes_other_sessions(user, audit_log):
    other_session = token_pair_issue(user=user)
    this_session = token_pair_issue(user=user)
    client = bearer(this_session["access"])
    client.post(f"{API}/users/me/mfa/totp")

    response = client.post(f"{API}/users/me/mfa/totp/confirm", {"code": fresh_code(user)}, format="json")

    assert response.status_code == HTTPStatus.OK
    codes = response.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert client.get(f"{API}/users/me").json()["mfa_enabled"] is True
    refresh = APIClient().post
    assert refresh(f"{API}/auth/refresh", {"refresh": other_session["refresh"]}, format="json").status_code == 401
    assert refresh(f"{API}/auth/refresh", {"refresh": this_session["refresh"]}, format="json").status_code == 200
    # Stored only as digests.
    stored = set(RecoveryCode.objects.filter(user=user).values_list("digest", flat=True))
    assert len(stored) == 10
    for code in codes:
        assert code not in stored
        assert code.replace("-", "") not in stored
    [event] = audit_log.events("mfa_enabled")
    assert event.user_id == user.pk
    assert not any(code in audit_log.text for code in codes)


def test_confirm_with_a_wrong_code_is_a_field_error(user, user_client):
    user_client.post(f"{API}/users/me/mfa/totp")
    response = user_client.post(f"{API}/users/me/mfa/totp/confirm", {"code": wrong_code(user)}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "invalid"
    assert "code" in response.json()["errors"]
    assert user_client.get(f"{API}/users/me").json()["mfa_enabled"] is False


@pytest.mark.parametrize(
    "body",
    [{}, {"code": ""}, {"code": "12345"}, {"code": "1234567"}, {"code": "abcdef"}, {"code": ["123456"]}],
    ids=["missing", "empty", "short", "long", "letters", "list"],
)
def test_confirm_with_a_malformed_code_is_a_field_error(user, user_client, body):
    user_client.post(f"{API}/users/me/mfa/totp")
    response = user_client.post(f"{API}/users/me/mfa/totp/confirm", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "code" in response.json()["errors"]


def test_confirm_without_enrolment_is_a_conflict(user_client):
    response = user_client.post(f"{API}/users/me/mfa/totp/confirm", {"code": "123456"}, format="json")
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "conflict"


def test_enrolment_while_mfa_is_on_is_a_conflict(mfa_user, client_for):
    response = client_for(mfa_user).post(f"{API}/users/me/mfa/totp")
    assert response.status_code == HTTPStatus.CONFLICT
    assert TOTPDevice.objects.filter(user=mfa_user, confirmed=True).count() == 1


def test_mfa_routes_need_authentication():
    for method, path in (
        ("post", "users/me/mfa/totp"),
        ("post", "users/me/mfa/totp/confirm"),
        ("delete", "users/me/mfa"),
        ("post", "users/me/mfa/recovery-codes"),
    ):
        response = getattr(APIClient(), method)(f"{API}/{path}", {}, format="json")
        assert response.status_code == HTTPStatus.UNAUTHORIZED, path
        assert response.json()["code"] == "not_authenticated"


# --- login in two steps -------------------------------------------------------------------------------------


def test_login_with_mfa_answers_a_challenge_and_no_tokens(mfa_user):
    response = login(mfa_user.email)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body.keys() == {"mfa_required", "mfa_token"}
    assert body["mfa_required"] is True
    mfa_user.refresh_from_db()
    assert mfa_user.last_login is None


def test_mfa_token_is_useless_as_a_bearer_token(mfa_user):
    response = bearer(mfa_token_for(mfa_user)).get(f"{API}/users/me")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "token_not_valid"


def test_second_step_issues_tokens_once(mfa_user, audit_log):
    token = mfa_token_for(mfa_user)
    response = login_mfa(token, fresh_code(mfa_user))
    assert response.status_code == HTTPStatus.OK
    tokens = response.json()
    assert tokens.keys() == {"access", "refresh"}
    assert bearer(tokens["access"]).get(f"{API}/users/me").status_code == HTTPStatus.OK
    assert [event.mfa for event in audit_log.events("login")] == ["totp"]

    reused = login_mfa(token, fresh_code(mfa_user))
    assert reused.status_code == HTTPStatus.UNAUTHORIZED
    assert reused.json()["code"] == "token_not_valid"


def test_a_totp_code_is_accepted_once(mfa_user):
    code = fresh_code(mfa_user)
    assert login_mfa(mfa_token_for(mfa_user), code).status_code == HTTPStatus.OK
    replay = login_mfa(mfa_token_for(mfa_user), code)
    assert replay.status_code == HTTPStatus.UNAUTHORIZED
    assert replay.json()["code"] == "invalid_credentials"


def test_wrong_code_is_invalid_credentials_and_five_kill_the_token(mfa_user, no_backoff, audit_log):
    token = mfa_token_for(mfa_user)
    for _ in range(5):
        response = login_mfa(token, wrong_code(mfa_user))
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["code"] == "invalid_credentials"
    dead = login_mfa(token, fresh_code(mfa_user))
    assert dead.status_code == HTTPStatus.UNAUTHORIZED
    assert dead.json()["code"] == "token_not_valid"
    assert len(audit_log.events("login_failed")) == 5
    # A new login starts a new token.
    assert login_mfa(mfa_token_for(mfa_user), fresh_code(mfa_user)).status_code == HTTPStatus.OK


def test_four_wrong_codes_leave_the_token_usable(mfa_user, no_backoff):
    token = mfa_token_for(mfa_user)
    for _ in range(4):
        login_mfa(token, wrong_code(mfa_user))
    assert login_mfa(token, fresh_code(mfa_user)).status_code == HTTPStatus.OK


def test_wrong_codes_back_off_per_account(mfa_user):
    first = mfa_token_for(mfa_user)
    assert login_mfa(first, wrong_code(mfa_user)).status_code == HTTPStatus.UNAUTHORIZED
    # Another token of the same account (another client) is held back by the same device back-off.
    blocked = login_mfa(mfa_token_for(mfa_user), fresh_code(mfa_user))
    assert blocked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert blocked.json()["code"] == "throttled"
    assert int(blocked["Retry-After"]) >= 1


def test_second_step_is_throttled_per_account(mfa_user, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "2/min"},
    }
    token = mfa_token_for(mfa_user)
    statuses = [
        APIClient(REMOTE_ADDR=f"10.9.0.{i}")
        .post(f"{API}/auth/login/mfa", {"mfa_token": token, "code": "000000"}, format="json")
        .status_code
        for i in range(3)
    ]
    assert statuses[-1] == HTTPStatus.TOO_MANY_REQUESTS


def test_expired_mfa_token_is_refused(mfa_user, monkeypatch):
    past = signing.b62_encode(int(time.time()) - 301)
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: past)
    token = mfa_token_for(mfa_user)
    monkeypatch.undo()
    response = login_mfa(token, fresh_code(mfa_user))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.parametrize(
    "mfa_token",
    ["", "garbage", signing.dumps({"uid": 1, "ver": 0, "jti": "x"}, salt="another-salt")],
    ids=["empty", "garbage", "other-salt"],
)
def test_bad_mfa_tokens_are_refused(mfa_user, mfa_token):
    response = login_mfa(mfa_token, fresh_code(mfa_user))
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED)
    if response.status_code == HTTPStatus.UNAUTHORIZED:
        assert response.json()["code"] == "token_not_valid"
    else:
        assert "mfa_token" in response.json()["errors"]


def test_mfa_token_is_bound_to_its_account(mfa_user):
    other = UserFactory(email="other@example.com")
    mfa_enable(other)
    token = mfa_token_for(mfa_user)
    # The other account's valid code does not open this account's token.
    response = login_mfa(token, fresh_code(other))
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_password_change_kills_a_pending_mfa_token(mfa_user):
    token = mfa_token_for(mfa_user)
    mfa_user.set_password("another-long-passphrase-9")
    mfa_user.save()
    response = login_mfa(token, fresh_code(mfa_user))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.parametrize("code", ["", "12 34", "abc", "x" * 65], ids=["empty", "short", "letters", "long"])
def test_second_step_with_malformed_code_is_a_field_error(mfa_user, code):
    response = login_mfa(mfa_token_for(mfa_user), code)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "code" in response.json()["errors"]


def test_wrong_password_does_not_reveal_mfa(mfa_user, django_assert_num_queries):
    """Before the password is right, an account with MFA is handled exactly like one without: same answer, same
    queries (none of them about MFA)."""
    plain = UserFactory(email="plain@example.com")
    with CaptureQueriesContext(connection) as with_mfa:
        first = login(mfa_user.email, "wrong-password-123")
    with CaptureQueriesContext(connection) as without_mfa:
        second = login(plain.email, "wrong-password-123")
    assert first.status_code == second.status_code == HTTPStatus.UNAUTHORIZED
    assert first.content == second.content
    assert len(with_mfa.captured_queries) == len(without_mfa.captured_queries)
    assert not any("otp_totp" in query["sql"] for query in with_mfa.captured_queries)


# --- recovery codes -----------------------------------------------------------------------------------------


def test_recovery_code_logs_in_once(mfa_user, audit_log):
    code = mfa_user.recovery_codes_shown[0]
    response = login_mfa(mfa_token_for(mfa_user), code.upper())
    assert response.status_code == HTTPStatus.OK
    assert response.json().keys() == {"access", "refresh"}
    [event] = audit_log.events("mfa_recovery_code_used")
    assert event.user_id == mfa_user.pk
    assert event.remaining == 9
    assert code not in audit_log.text

    again = login_mfa(mfa_token_for(mfa_user), code)
    assert again.status_code == HTTPStatus.UNAUTHORIZED
    assert again.json()["code"] == "invalid_credentials"


def test_regenerated_recovery_codes_replace_the_old_ones(mfa_user, client_for, audit_log, no_backoff):
    client = client_for(mfa_user)
    response = client.post(f"{API}/users/me/mfa/recovery-codes", {"code": fresh_code(mfa_user)}, format="json")
    assert response.status_code == HTTPStatus.OK
    new_codes = response.json()["recovery_codes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(mfa_user.recovery_codes_shown)
    assert audit_log.events("mfa_recovery_codes_regenerated")
    old = login_mfa(mfa_token_for(mfa_user), mfa_user.recovery_codes_shown[1])
    assert old.status_code == HTTPStatus.UNAUTHORIZED
    assert login_mfa(mfa_token_for(mfa_user), new_codes[0]).status_code == HTTPStatus.OK


def test_regenerating_needs_a_right_code(mfa_user, client_for):
    client = client_for(mfa_user)
    response = client.post(f"{API}/users/me/mfa/recovery-codes", {"code": wrong_code(mfa_user)}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "code" in response.json()["errors"]


def test_regenerating_without_mfa_is_a_conflict(user_client):
    response = user_client.post(f"{API}/users/me/mfa/recovery-codes", {"code": "123456"}, format="json")
    assert response.status_code == HTTPStatus.CONFLICT


# --- disabling ----------------------------------------------------------------------------------------------


def test_disable_with_password_and_code(mfa_user, client_for, audit_log):
    client = client_for(mfa_user)
    response = client.delete(
        f"{API}/users/me/mfa", {"password": DEFAULT_PASSWORD, "code": fresh_code(mfa_user)}, format="json"
    )
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert client.get(f"{API}/users/me").json()["mfa_enabled"] is False
    assert not RecoveryCode.objects.filter(user=mfa_user).exists()
    assert login(mfa_user.email).json().keys() == {"access", "refresh"}
    [event] = audit_log.events("mfa_disabled")
    assert event.user_id == mfa_user.pk


def test_disable_with_a_recovery_code(mfa_user, client_for):
    response = client_for(mfa_user).delete(
        f"{API}/users/me/mfa", {"password": DEFAULT_PASSWORD, "code": mfa_user.recovery_codes_shown[3]}, format="json"
    )
    assert response.status_code == HTTPStatus.NO_CONTENT


def test_disable_with_a_wrong_password_is_a_field_error(mfa_user, client_for):
    response = client_for(mfa_user).delete(
        f"{API}/users/me/mfa", {"password": "wrong-password-123", "code": fresh_code(mfa_user)}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "password" in response.json()["errors"]
    assert TOTPDevice.objects.filter(user=mfa_user, confirmed=True).exists()


def test_disable_with_a_wrong_code_is_a_field_error(mfa_user, client_for):
    response = client_for(mfa_user).delete(
        f"{API}/users/me/mfa", {"password": DEFAULT_PASSWORD, "code": wrong_code(mfa_user)}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "code" in response.json()["errors"]


def test_disable_without_mfa_is_a_conflict(user_client):
    response = user_client.delete(
        f"{API}/users/me/mfa", {"password": DEFAULT_PASSWORD, "code": "123456"}, format="json"
    )
    assert response.status_code == HTTPStatus.CONFLICT


def test_password_reset_leaves_mfa_on(mfa_user):
    from accounts.services.passwords import password_reset_confirm, password_reset_link

    link = password_reset_link(user=mfa_user)
    query = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
    password_reset_confirm(uid=query["uid"], token=query["token"], new_password="a-new-long-passphrase-7")
    response = login(mfa_user.email, "a-new-long-passphrase-7")
    assert response.json()["mfa_required"] is True


# --- administrators' reset ----------------------------------------------------------------------------------


def test_user_admin_resets_an_ordinary_users_mfa(mfa_user, user_with_role, client_for, audit_log):
    admin = user_with_role("user_admin")
    response = client_for(admin).post(f"{API}/admin/users/{mfa_user.pk}/mfa-reset")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not TOTPDevice.objects.filter(user=mfa_user).exists()
    assert not RecoveryCode.objects.filter(user=mfa_user).exists()
    [event] = audit_log.events("mfa_reset")
    assert (event.user_id, event.target_id, event.had_mfa) == (admin.pk, mfa_user.pk, True)
    assert login(mfa_user.email).json().keys() == {"access", "refresh"}


@pytest.mark.parametrize("kind", ["staff", "superuser", "privileged role", "self"])
def test_user_admin_cannot_reset_protected_users(kind, user_with_role, client_for):
    admin = user_with_role("user_admin")
    target = protected_user(kind, admin)
    mfa_enable(target)
    response = client_for(admin).post(f"{API}/admin/users/{target.pk}/mfa-reset")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "permission_denied"
    assert TOTPDevice.objects.filter(user=target, confirmed=True).exists()


def test_superuser_resets_a_staff_members_mfa(superuser, client_for):
    staff = UserFactory(is_staff=True)
    mfa_enable(staff)
    response = client_for(superuser).post(f"{API}/admin/users/{staff.pk}/mfa-reset/")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not TOTPDevice.objects.filter(user=staff).exists()


def test_reset_needs_change_user(mfa_user, client_for):
    viewer_of_users = UserWithRolesFactory(roles=[])
    from django.contrib.auth.models import Permission

    viewer_of_users.user_permissions.add(Permission.objects.get(codename="view_user"))
    response = client_for(viewer_of_users).post(f"{API}/admin/users/{mfa_user.pk}/mfa-reset")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert TOTPDevice.objects.filter(user=mfa_user, confirmed=True).exists()


def test_reset_of_an_unseen_user_is_not_found(mfa_user, user_with_role, client_for):
    response = client_for(user_with_role("viewer")).post(f"{API}/admin/users/{mfa_user.pk}/mfa-reset")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_mfa_routes_refuse_credentials_other_than_a_jwt(user):
    """``users/me/mfa*`` need a login session: a request authenticated otherwise (here DRF's forced authentication,
    as an API key would be) is 403."""
    client = APIClient()
    client.force_authenticate(user=user)
    assert client.get(f"{API}/users/me").status_code == HTTPStatus.OK
    for method, path in (
        ("post", "users/me/mfa/totp"),
        ("post", "users/me/mfa/totp/confirm"),
        ("delete", "users/me/mfa"),
        ("post", "users/me/mfa/recovery-codes"),
    ):
        response = getattr(client, method)(f"{API}/{path}", {}, format="json")
        assert response.status_code == HTTPStatus.FORBIDDEN, path
        assert response.json()["code"] == "permission_denied"
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_schema_documents_the_mfa_operations(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    expected = {
        ("/api/v1/auth/login/mfa/", "post"): "auth",
        ("/api/v1/users/me/mfa/", "delete"): "users",
        ("/api/v1/users/me/mfa/totp/", "post"): "users",
        ("/api/v1/users/me/mfa/totp/confirm/", "post"): "users",
        ("/api/v1/users/me/mfa/recovery-codes/", "post"): "users",
        ("/api/v1/admin/users/{id}/mfa-reset/", "post"): "admin",
    }
    for (path, method), tag in expected.items():
        operation = paths[path][method]
        assert operation["tags"] == [tag], path
    assert "401" in paths["/api/v1/auth/login/mfa/"]["post"]["responses"]
    assert "409" in paths["/api/v1/users/me/mfa/totp/confirm/"]["post"]["responses"]
    assert "requestBody" in paths["/api/v1/users/me/mfa/"]["delete"]
    login = paths["/api/v1/auth/login/"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert login == {"$ref": "#/components/schemas/LoginResult"}
    assert {"$ref": "#/components/schemas/MfaChallenge"} in schema["components"]["schemas"]["LoginResult"]["oneOf"]
