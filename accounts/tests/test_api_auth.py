"""Auth flows through HTTP with real tokens: register, login, refresh, logout, password change and reset, me."""

import base64
import json
import logging
import re
from datetime import timedelta
from http import HTTPStatus

import jwt
import pytest
from django.contrib.auth.models import Group
from django.core import mail
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from accounts.services.tokens import token_pair_issue
from accounts.tests import hashers
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
REAL_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
STRONG = "plum-Orbit-canyon-74"


def login(client: APIClient, email: str, password: str, **extra):
    return client.post(f"{API}/auth/login", {"email": email, "password": password}, format="json", **extra)


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def me_status(access: str) -> int:
    return bearer(access).get(f"{API}/users/me").status_code


def refresh(raw: str):
    return APIClient().post(f"{API}/auth/refresh", {"refresh": raw}, format="json")


def assert_token_not_valid(response):
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "token_not_valid"


# --- register ---------------------------------------------------------------------------------------------


def test_register_creates_user_with_default_role(api_client):
    response = api_client.post(
        f"{API}/auth/register", {"email": "New@Example.COM", "password": STRONG, "full_name": "Nia"}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["email"] == "New@example.com"
    assert body["roles"] == ["viewer"]
    assert body["is_staff"] is False
    assert "password" not in body
    assert User.objects.get(pk=body["id"]).check_password(STRONG)


def test_register_uses_configured_default_role(api_client, settings):
    settings.DEFAULT_ROLE = "analyst"
    response = api_client.post(f"{API}/auth/register", {"email": "a@example.com", "password": STRONG}, format="json")
    assert response.json()["roles"] == ["analyst"]


def test_register_taken_email_is_field_error_case_insensitively(api_client):
    UserFactory(email="taken@example.com")
    response = api_client.post(
        f"{API}/auth/register", {"email": "TAKEN@example.com", "password": STRONG}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "invalid"
    assert "email" in response.json()["errors"]


@pytest.mark.parametrize(
    "password",
    ["short-1A", "password1234", "1234567890123", "weak@example.com"],
    ids=["short", "common", "numeric", "similar"],
)
def test_register_validates_password(api_client, password):
    response = api_client.post(
        f"{API}/auth/register", {"email": "weak@example.com", "password": password}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "password" in response.json()["errors"]
    assert not User.objects.exists()


def test_password_min_length_comes_from_settings(api_client, settings):
    settings.AUTH_PASSWORD_VALIDATORS = [
        {
            "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
            "OPTIONS": {"min_length": 30},
        }
    ]
    response = api_client.post(f"{API}/auth/register", {"email": "l@example.com", "password": STRONG}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_registration_closed(api_client, settings):
    settings.REGISTRATION_OPEN = False
    response = api_client.post(f"{API}/auth/register", {"email": "c@example.com", "password": STRONG}, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "registration_closed"


# --- login ------------------------------------------------------------------------------------------------


def test_login_issues_tokens_and_email_is_case_insensitive(api_client):
    user = UserFactory(email="Case@Example.com")
    response = login(api_client, "CASE@example.COM", DEFAULT_PASSWORD)
    assert response.status_code == HTTPStatus.OK
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    assert me_status(tokens["access"]) == HTTPStatus.OK
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_failures_are_indistinguishable(api_client):
    UserFactory(email="real@example.com")
    UserFactory(email="sleeping@example.com", is_active=False)
    bodies = [
        login(api_client, "nobody@example.com", DEFAULT_PASSWORD),
        login(api_client, "real@example.com", "wrong-password-123"),
        login(api_client, "sleeping@example.com", DEFAULT_PASSWORD),
    ]
    assert {r.status_code for r in bodies} == {HTTPStatus.UNAUTHORIZED}
    assert len({r.content for r in bodies}) == 1
    assert bodies[0].json()["code"] == "invalid_credentials"
    assert bodies[0]["WWW-Authenticate"].startswith("Bearer")


def test_unknown_email_runs_the_hasher(api_client, settings):
    settings.PASSWORD_HASHERS = ["accounts.tests.hashers.CountingMD5PasswordHasher"]
    before = hashers.CountingMD5PasswordHasher.calls
    login(api_client, "ghost@example.com", "whatever-password-1")
    assert hashers.CountingMD5PasswordHasher.calls > before


def test_no_truncation_and_long_or_non_ascii_passwords(api_client, settings):
    settings.PASSWORD_HASHERS = REAL_HASHERS
    long_password = "x" * 72 + "-the-real-tail"
    UserFactory(email="long@example.com", password=long_password)
    assert login(api_client, "long@example.com", long_password).status_code == HTTPStatus.OK
    assert login(api_client, "long@example.com", "x" * 72 + "-another-tail").status_code == HTTPStatus.UNAUTHORIZED
    hundred = "Ä" * 50 + "ß€" * 25
    UserFactory(email="uni@example.com", password=hundred)
    assert len(hundred) == 100
    assert login(api_client, "uni@example.com", hundred).status_code == HTTPStatus.OK


def test_tokens_and_responses_never_carry_a_hash(api_client):
    user = UserFactory(email="h@example.com")
    tokens = login(api_client, "h@example.com", DEFAULT_PASSWORD).json()
    for raw in tokens.values():
        payload = jwt.decode(raw, options={"verify_signature": False})
        assert set(payload) <= {"token_type", "exp", "iat", "jti", "user_id", "ver", "sid"}
        assert user.password not in json.dumps(payload)
    me = bearer(tokens["access"]).get(f"{API}/users/me").content.decode()
    assert user.password not in me
    assert "password" not in me


# --- refresh, logout, revocation ----------------------------------------------------------------------------


def test_refresh_rotates_and_old_token_is_dead(api_client):
    UserFactory(email="r@example.com")
    first = login(api_client, "r@example.com", DEFAULT_PASSWORD).json()
    rotated = refresh(first["refresh"])
    assert rotated.status_code == HTTPStatus.OK
    second = rotated.json()
    assert second["refresh"] != first["refresh"]
    assert me_status(second["access"]) == HTTPStatus.OK
    assert_token_not_valid(refresh(first["refresh"]))


def test_reusing_a_rotated_token_revokes_every_refresh_token_of_the_user(api_client, caplog):
    UserFactory(email="theft@example.com")
    other_session = login(api_client, "theft@example.com", DEFAULT_PASSWORD).json()
    stolen = login(api_client, "theft@example.com", DEFAULT_PASSWORD).json()
    legit = refresh(stolen["refresh"]).json()
    with caplog.at_level(logging.WARNING, logger="dashboard.audit"):
        assert_token_not_valid(refresh(stolen["refresh"]))
    assert_token_not_valid(refresh(legit["refresh"]))
    assert_token_not_valid(refresh(other_session["refresh"]))
    assert any(getattr(r, "event", "") == "refresh_reuse" for r in caplog.records)


def test_logout_kills_only_that_refresh_token(api_client):
    UserFactory(email="out@example.com")
    kept = login(api_client, "out@example.com", DEFAULT_PASSWORD).json()
    gone = login(api_client, "out@example.com", DEFAULT_PASSWORD).json()
    response = api_client.post(f"{API}/auth/logout", {"refresh": gone["refresh"]}, format="json")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert_token_not_valid(refresh(gone["refresh"]))
    # Not a rotation reuse: the user's other session lives on.
    assert refresh(kept["refresh"]).status_code == HTTPStatus.OK
    assert_token_not_valid(api_client.post(f"{API}/auth/logout", {"refresh": gone["refresh"]}, format="json"))


def test_logout_rejects_an_access_token(api_client):
    UserFactory(email="o2@example.com")
    tokens = login(api_client, "o2@example.com", DEFAULT_PASSWORD).json()
    assert_token_not_valid(api_client.post(f"{API}/auth/logout", {"refresh": tokens["access"]}, format="json"))


def test_deleted_users_tokens_are_401(api_client):
    user = UserFactory(email="del@example.com")
    tokens = login(api_client, "del@example.com", DEFAULT_PASSWORD).json()
    user.delete()
    assert_token_not_valid(bearer(tokens["access"]).get(f"{API}/users/me"))
    assert_token_not_valid(refresh(tokens["refresh"]))


def test_deactivation_kills_tokens_at_once(api_client):
    user = UserFactory(email="deact@example.com")
    tokens = login(api_client, "deact@example.com", DEFAULT_PASSWORD).json()
    user.is_active = False
    user.save()
    assert_token_not_valid(bearer(tokens["access"]).get(f"{API}/users/me"))
    assert_token_not_valid(refresh(tokens["refresh"]))


def _forge(payload: dict, header: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(payload)}."


def test_bad_tokens_are_token_not_valid(user):
    pair = token_pair_issue(user=user)
    # simplejwt annotates the encoded token (a str) as Token | None:
    access = AccessToken(pair["access"])  # type: ignore[arg-type]  # see above
    expired = AccessToken(pair["access"])  # type: ignore[arg-type]  # see above
    expired.set_exp(lifetime=-timedelta(seconds=1))
    tampered = pair["access"][:-4] + ("AAAA" if not pair["access"].endswith("AAAA") else "BBBB")
    unsigned = _forge(dict(access.payload), {"alg": "none", "typ": "JWT"})
    for raw in (str(expired), tampered, unsigned, pair["refresh"]):
        assert_token_not_valid(bearer(raw).get(f"{API}/users/me"))


def test_expired_refresh_token_is_401(user):
    token = RefreshToken.for_user(user)
    token["ver"] = user.token_version
    token.set_exp(lifetime=-timedelta(seconds=1))
    assert_token_not_valid(refresh(str(token)))


# --- password change ------------------------------------------------------------------------------------


def test_password_change_needs_current_password(user, user_client):
    response = user_client.post(
        f"{API}/users/me/password", {"current_password": "wrong-one-123", "new_password": STRONG}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "current_password" in response.json()["errors"]


def test_password_change_validates_new_password(user, user_client):
    response = user_client.post(
        f"{API}/users/me/password", {"current_password": DEFAULT_PASSWORD, "new_password": "123"}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "new_password" in response.json()["errors"]


def test_password_change_revokes_every_token(api_client):
    user = UserFactory(email="pc@example.com")
    first = login(api_client, "pc@example.com", DEFAULT_PASSWORD).json()
    second = login(api_client, "pc@example.com", DEFAULT_PASSWORD).json()
    response = bearer(first["access"]).post(
        f"{API}/users/me/password", {"current_password": DEFAULT_PASSWORD, "new_password": STRONG}, format="json"
    )
    assert response.status_code == HTTPStatus.NO_CONTENT
    for tokens in (first, second):
        assert_token_not_valid(bearer(tokens["access"]).get(f"{API}/users/me"))
        assert_token_not_valid(refresh(tokens["refresh"]))
    assert login(api_client, "pc@example.com", STRONG).status_code == HTTPStatus.OK
    user.refresh_from_db()
    assert user.check_password(STRONG)


# --- password reset ---------------------------------------------------------------------------------------


def _reset_params(message_body: object) -> dict:
    """From an outbox message's body (typed str or lazy str)."""
    match = re.search(r"http://localhost:5173/reset-password\?uid=([^&\s]+)&token=(\S+)", str(message_body))
    assert match, message_body
    return {"uid": match.group(1), "token": match.group(2)}


def test_password_reset_answers_alike_and_mails_only_real_accounts(api_client, request_password_reset):
    UserFactory(email="known@example.com")
    known = request_password_reset(api_client, "KNOWN@example.com")
    unknown = request_password_reset(api_client, "unknown@example.com")
    assert known.status_code == unknown.status_code == HTTPStatus.NO_CONTENT
    assert known.content == unknown.content
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["known@example.com"]


def test_password_reset_confirm_sets_password_once_and_revokes_tokens(api_client, request_password_reset):
    UserFactory(email="forgot@example.com")
    old = login(api_client, "forgot@example.com", DEFAULT_PASSWORD).json()
    request_password_reset(api_client, "forgot@example.com")
    params = _reset_params(mail.outbox[0].body)
    confirm = api_client.post(f"{API}/auth/password-reset/confirm", {**params, "new_password": STRONG}, format="json")
    assert confirm.status_code == HTTPStatus.NO_CONTENT
    assert login(api_client, "forgot@example.com", STRONG).status_code == HTTPStatus.OK
    assert_token_not_valid(bearer(old["access"]).get(f"{API}/users/me"))
    assert_token_not_valid(refresh(old["refresh"]))
    again = api_client.post(
        f"{API}/auth/password-reset/confirm", {**params, "new_password": "another-Strong-pass-9"}, format="json"
    )
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert "token" in again.json()["errors"]


@pytest.mark.parametrize("field", ["uid", "token"])
def test_password_reset_confirm_rejects_bad_links(api_client, field, request_password_reset):
    UserFactory(email="bad@example.com")
    request_password_reset(api_client, "bad@example.com")
    params = _reset_params(mail.outbox[0].body)
    params[field] = "garbage"
    response = api_client.post(f"{API}/auth/password-reset/confirm", {**params, "new_password": STRONG}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"] == {"token": ["The reset link is invalid or has expired."]}


def test_password_reset_confirm_validates_new_password(api_client, request_password_reset):
    UserFactory(email="weak2@example.com")
    request_password_reset(api_client, "weak2@example.com")
    params = _reset_params(mail.outbox[0].body)
    response = api_client.post(f"{API}/auth/password-reset/confirm", {**params, "new_password": "abc"}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "new_password" in response.json()["errors"]


# --- me -------------------------------------------------------------------------------------------------


def test_me_lists_roles_and_effective_permissions(client_for):
    user = UserFactory()
    user.groups.add(Group.objects.get(name="user_admin"))
    body = client_for(user).get(f"{API}/users/me").json()
    assert body["roles"] == ["user_admin"]
    assert "accounts.view_user" in body["permissions"]
    assert set(body) == {
        "id",
        "email",
        "full_name",
        "is_active",
        "is_staff",
        "is_superuser",
        "date_joined",
        "last_login",
        "roles",
        "permissions",
        "mfa_enabled",
    }
    assert body["mfa_enabled"] is False


def test_me_patch_changes_only_the_name(user, user_client):
    original = (user.email, user.password)
    response = user_client.patch(
        f"{API}/users/me",
        {
            "full_name": "Renamed",
            "email": "evil@example.com",
            "is_superuser": True,
            "is_staff": True,
            "roles": ["user_admin"],
            "groups": [1],
            "user_permissions": [1],
            "password": "sneaky-new-password-1",
        },
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    user.refresh_from_db()
    assert user.full_name == "Renamed"
    assert (user.email, user.password) == original
    assert not user.is_superuser
    assert not user.is_staff
    assert not user.groups.exists()
    assert not user.user_permissions.exists()


def test_a_password_saved_anywhere_revokes_tokens(user):
    """The admin's forms, ``changepassword`` and the shell all end in set_password + save."""
    pair = token_pair_issue(user=user)
    user.set_password("brand-New-password-77")
    user.save()
    assert_token_not_valid(bearer(pair["access"]).get(f"{API}/users/me"))
    assert_token_not_valid(refresh(pair["refresh"]))


def test_saving_other_fields_keeps_tokens(user):
    pair = token_pair_issue(user=user)
    user.full_name = "Still Me"
    user.save()
    assert me_status(pair["access"]) == HTTPStatus.OK
