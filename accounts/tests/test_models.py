"""The custom user: manager, case-insensitive uniqueness in the database, createsuperuser, hashers."""

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.management import call_command
from django.db import IntegrityError, transaction

from accounts.models import User

pytestmark = pytest.mark.django_db

REAL_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


def test_user_model_is_the_custom_one():
    assert get_user_model() is User
    assert User.USERNAME_FIELD == "email"
    assert not hasattr(User, "username")


def test_create_user_normalises_domain_and_keeps_local_part():
    user = User.objects.create_user("Jane.Doe@Example.COM", "a-long-password-1")
    assert user.email == "Jane.Doe@example.com"
    assert not user.is_staff
    assert not user.is_superuser
    assert user.check_password("a-long-password-1")


def test_create_superuser_sets_flags():
    admin = User.objects.create_superuser("root@example.com", "a-long-password-1")
    assert admin.is_staff
    assert admin.is_superuser
    with pytest.raises(ValueError, match="is_superuser"):
        User.objects.create_superuser("x@example.com", "pw", is_superuser=False)


def test_email_required():
    with pytest.raises(ValueError, match="email"):
        User.objects.create_user("", "a-long-password-1")


def test_email_unique_case_insensitively_in_the_database():
    User.objects.create_user("a@x.io", "a-long-password-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        # bulk_create skips the manager's normalisation and model validation: only the constraint stops it.
        User.objects.bulk_create([User(email="A@x.io")])
    assert User.objects.count() == 1


def test_login_lookup_is_case_insensitive():
    User.objects.create_user("Mixed@Example.com", "a-long-password-1")
    assert authenticate(email="mixed@EXAMPLE.com", password="a-long-password-1") is not None


def test_createsuperuser_noinput_from_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Boss@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-1")
    call_command("createsuperuser", "--noinput", verbosity=0)
    boss = User.objects.get()
    assert boss.email == "Boss@example.com"
    assert boss.is_superuser
    assert boss.check_password("a-long-password-1")


def test_passwords_hash_with_bcrypt_sha256_and_pbkdf2_upgrades(settings):
    settings.PASSWORD_HASHERS = REAL_HASHERS
    user = User.objects.create_user("h@example.com", "a-long-password-1")
    assert identify_hasher(user.password).algorithm == "bcrypt_sha256"

    from django.contrib.auth.hashers import make_password

    user.password = make_password("old-style-password-9", hasher="pbkdf2_sha256")
    user.save()
    assert authenticate(email="h@example.com", password="old-style-password-9") is not None
    user.refresh_from_db()
    assert identify_hasher(user.password).algorithm == "bcrypt_sha256"


def test_no_truncation_after_72_bytes(settings):
    settings.PASSWORD_HASHERS = REAL_HASHERS
    long_password = "p" * 72 + "-tail-one"
    user = User.objects.create_user("long@example.com", long_password)
    assert check_password(long_password, user.password)
    assert not check_password("p" * 72 + "-tail-two", user.password)


def test_project_hashers_are_bcrypt_sha256_then_pbkdf2():
    from config import settings as project_settings

    assert project_settings.PASSWORD_HASHERS == REAL_HASHERS
