"""JWT issue, rotation, logout and revocation.

Every refresh token is recorded by simplejwt's ``token_blacklist`` app (OutstandingToken). Tokens carry the user's
``token_version``; bumping it kills every access and refresh token issued before, with no password-derived value in any
token. A refresh token blacklisted *by rotation* is remembered (RotatedToken), so its reuse is recognised as theft.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token

from accounts.exceptions import TokenNotValid
from accounts.models import RotatedToken, User

audit = logging.getLogger("dashboard.audit")

# On every token: the user's token version (the authentication class refuses older ones).
TOKEN_VERSION_CLAIM = "ver"
# On access tokens: the jti of the refresh token they were issued with (their session).
SESSION_CLAIM = "sid"


def token_pair_issue(*, user: User) -> dict[str, str]:
    """A fresh refresh/access pair for *user*, both carrying the user's current token version."""
    refresh = RefreshToken.for_user(user)
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    access = refresh.access_token
    # The access token names its refresh token, so "every other session" can be revoked (MFA enrolment).
    access[SESSION_CLAIM] = refresh[api_settings.JTI_CLAIM]
    return {"access": str(access), "refresh": str(refresh)}


class _RefreshTokenUnchecked(RefreshToken):
    """A refresh token verified for signature, expiry, id and type, but not against the blacklist.

    The callers check the blacklist themselves, because they must know *why* a token is blacklisted.
    """

    def verify(self, *args, **kwargs) -> None:
        Token.verify(self)


def _decode_refresh(raw: str) -> RefreshToken:
    try:
        return _RefreshTokenUnchecked(raw)  # type: ignore[arg-type]  # simplejwt annotates the encoded token (a str) as Token | None
    except TokenError as exc:
        raise TokenNotValid() from exc


def _token_user(token: RefreshToken) -> User | None:
    """The token's user when it still exists, is active and the token's version is current; else None."""
    user = User.objects.filter(pk=token.get(api_settings.USER_ID_CLAIM)).first()
    if user is None or not user.is_active or token.payload.get(TOKEN_VERSION_CLAIM) != user.token_version:
        return None
    return user


def _outstanding(token: RefreshToken) -> OutstandingToken | None:
    return OutstandingToken.objects.filter(jti=token.payload.get(api_settings.JTI_CLAIM)).first()


def refresh_tokens_revoke(*, user: User, keep_jti: str | None = None) -> int:
    """Blacklist every refresh token of *user* that is not blacklisted yet (but *keep_jti*); returns how many."""
    pending = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    if keep_jti:
        pending = pending.exclude(jti=keep_jti)
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=outstanding) for outstanding in pending], ignore_conflicts=True
    )
    return len(created)


def token_refresh(*, raw_refresh: str) -> dict[str, str]:
    """Rotate: blacklist the presented refresh token and issue a new pair.

    Reusing a token that rotation already blacklisted revokes every refresh token of its user (theft detection);
    a token revoked by logout or a password change just fails.
    """
    token = _decode_refresh(raw_refresh)
    outstanding = _outstanding(token)
    if outstanding is None:
        raise TokenNotValid()
    if _is_blacklisted(outstanding):
        _handle_blacklisted_use(outstanding)
        raise TokenNotValid()
    user = _token_user(token)
    if user is None:
        raise TokenNotValid()
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
            RotatedToken.objects.create(token=outstanding)
    except IntegrityError:
        # A concurrent refresh with the same token won the race: this use is a reuse.
        _handle_blacklisted_use(outstanding)
        raise TokenNotValid() from None
    return token_pair_issue(user=user)


def _is_blacklisted(outstanding: OutstandingToken) -> bool:
    return BlacklistedToken.objects.filter(token=outstanding).exists()


def _handle_blacklisted_use(outstanding: OutstandingToken) -> None:
    if outstanding.user_id is None or not RotatedToken.objects.filter(token=outstanding).exists():
        return
    assert outstanding.user is not None  # user_id is set
    count = refresh_tokens_revoke(user=outstanding.user)
    audit.warning(
        "refresh token reuse detected; all refresh tokens of the user revoked",
        extra={"event": "refresh_reuse", "user_id": outstanding.user_id, "count": count},
    )


def token_blacklist(*, raw_refresh: str) -> None:
    """Logout: the refresh token never works again. An unknown, expired or already revoked token is a 401."""
    token = _decode_refresh(raw_refresh)
    outstanding = _outstanding(token)
    if outstanding is None or _is_blacklisted(outstanding):
        raise TokenNotValid()
    BlacklistedToken.objects.get_or_create(token=outstanding)
    audit.info("logout", extra={"event": "logout", "user_id": outstanding.user_id})
