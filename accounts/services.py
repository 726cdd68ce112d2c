"""Writes about users and their tokens."""

from __future__ import annotations

from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TOKEN_VERSION_CLAIM
from accounts.models import User


def token_pair_issue(*, user: User) -> dict[str, str]:
    """A fresh refresh/access pair for *user*, both carrying the user's current token version."""
    refresh = RefreshToken.for_user(user)
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    access = refresh.access_token
    return {"access": str(access), "refresh": str(refresh)}
