"""One normalisation of email addresses for storage, lookup, uniqueness and throttle keys (look-alike characters)."""

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from accounts.email_addresses import email_key, email_normalize
from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
STRONG = "a-Strong-passphrase-42"
KELVIN, DOTLESS_I, LONG_S = "\u212a", "\u0131", "\u017f"


def test_normalisation_maps_compatibility_characters_and_lowercases_the_domain():
    assert email_normalize(f"  {KELVIN}im@{KELVIN}.IO ") == "Kim@k.io"
    assert email_normalize(f"{LONG_S}am@x.io") == "sam@x.io"
    assert email_normalize(f"{DOTLESS_I}vy@x.io") == f"{DOTLESS_I}vy@x.io"  # a letter of its own (Turkish)
    assert email_key("Kim@K.io") == email_key(f"{KELVIN}IM@k.io") == "kim@k.io"
    assert email_key("\u0130Z@x.io") == "iz@x.io"  # simple lowercase, as the database's lower() gives


def test_registering_a_kelvin_sign_twin_is_a_field_error_not_a_500(api_client):
    UserFactory(email="kim@example.com")
    response = api_client.post(
        f"{API}/auth/register", {"email": f"{KELVIN}im@example.com", "password": STRONG}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "email" in response.json()["errors"]
    assert User.objects.count() == 1


def test_a_registered_address_is_stored_normalised(api_client):
    response = api_client.post(
        f"{API}/auth/register", {"email": f"{LONG_S}am@{KELVIN}.IO", "password": STRONG}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["email"] == "sam@k.io"


def _login(email: str, password: str = DEFAULT_PASSWORD, address: str = "10.0.0.1"):
    client = APIClient(REMOTE_ADDR=address)
    return client.post(f"{API}/auth/login", {"email": email, "password": password}, format="json")


def test_long_s_logs_into_the_account_it_normalises_to(db):
    UserFactory(email="sam@example.com")
    assert _login(f"{LONG_S}AM@example.com").status_code == HTTPStatus.OK


def test_dotless_i_does_not_reach_the_account_with_a_dotted_i(db):
    """upper() maps the dotless i to I, lower() does not: matched like the unique constraint, it is another address."""
    UserFactory(email="ivy@example.com")
    assert _login(f"{DOTLESS_I}vy@example.com").status_code == HTTPStatus.UNAUTHORIZED
    assert _login("IVY@example.com").status_code == HTTPStatus.OK


def test_dotless_i_is_its_own_account_and_unique_like_any_other(api_client):
    UserFactory(email="ivy@example.com")
    twin = f"{DOTLESS_I}vy@example.com"
    assert api_client.post(f"{API}/auth/register", {"email": twin, "password": STRONG}, format="json").status_code == (
        HTTPStatus.CREATED
    )
    again = api_client.post(f"{API}/auth/register", {"email": twin.upper(), "password": STRONG}, format="json")
    # upper() of the dotless i is a plain I: "IVY@…" is the dotted account's address, which exists too.
    assert again.status_code == HTTPStatus.BAD_REQUEST


def test_every_spelling_of_one_account_counts_against_one_throttle_bucket(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "3/min"},
    }
    UserFactory(email="sam@example.com")
    spellings = ["sam@example.com", f"{LONG_S}am@example.com", "SAM@EXAMPLE.COM", f"{LONG_S.upper()}am@example.com"]
    # Each from its own address, so only the per-account bucket can stop them.
    statuses = [_login(email, "wrong-password-1", f"10.0.1.{i}").status_code for i, email in enumerate(spellings)]
    assert statuses[:3] == [HTTPStatus.UNAUTHORIZED] * 3
    assert statuses[3] == HTTPStatus.TOO_MANY_REQUESTS


def test_password_reset_finds_the_account_by_a_look_alike_spelling(api_client, mailoutbox, request_password_reset):
    UserFactory(email="kim@example.com")
    response = request_password_reset(api_client, f"{KELVIN}IM@example.com")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert [message.to for message in mailoutbox] == [["kim@example.com"]]
