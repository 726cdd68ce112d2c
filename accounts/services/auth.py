"""Self-service authentication: register and log in."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, update_last_login
from django.http import HttpRequest

from accounts.exceptions import InvalidCredentials, RegistrationClosed
from accounts.models import User
from accounts.services.mfa import MfaChallenge, mfa_challenge_issue, mfa_is_enabled
from accounts.services.tokens import token_pair_issue
from accounts.services.users import user_create

audit = logging.getLogger("dashboard.audit")


def user_register(*, email: str, password: str, full_name: str = "") -> User:
    """Self-service sign-up, given the role named by DEFAULT_ROLE; 403 when REGISTRATION_OPEN is false."""
    if not settings.REGISTRATION_OPEN:
        raise RegistrationClosed()
    roles = Group.objects.filter(name=settings.DEFAULT_ROLE)
    user = user_create(email=email, password=password, full_name=full_name, roles=roles)
    audit.info("user registered", extra={"event": "registered", "user_id": user.pk})
    return user


def user_login(*, request: HttpRequest | None, email: str, password: str) -> dict[str, str] | MfaChallenge:
    """Check the credentials and issue a token pair, or, for a user with MFA, a challenge for the second step.

    Unknown email, wrong password and inactive account fail alike; Django's ModelBackend runs the hasher for an
    unknown email too, so the time taken does not tell them apart. Whether the account has MFA is looked up only
    once the password is right, so it never shows before.
    """
    user = authenticate(request, email=email, password=password)
    if user is None:
        known_id = User.objects.with_email(email).values_list("pk", flat=True).first()
        audit.warning("login failed", extra={"event": "login_failed", "user_id": known_id})
        raise InvalidCredentials()
    if mfa_is_enabled(user=user):
        return mfa_challenge_issue(user=user)
    update_last_login(User, user)  # the signal receiver's sender argument; it is not used
    audit.info("login", extra={"event": "login", "user_id": user.pk})
    return token_pair_issue(user=user)


def user_profile_update(*, user: User, full_name: str | None = None) -> User:
    """The user's own profile: only the name can change here."""
    if full_name is not None:
        user.full_name = full_name
        user.save(update_fields=["full_name"])
    return user
