"""JWT authentication that also rejects tokens issued before the user's last revocation event."""

from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

TOKEN_VERSION_CLAIM = "ver"
# On access tokens: the jti of the refresh token they were issued with (their session).
SESSION_CLAIM = "sid"


class VersionedJWTAuthentication(JWTAuthentication):
    """simplejwt's Bearer authentication plus the per-user token version check.

    Every failure (unknown or inactive user, stale version) is a 401 ``token_not_valid``.
    """

    def get_user(self, validated_token):
        try:
            user = super().get_user(validated_token)
        except AuthenticationFailed as exc:
            raise InvalidToken("Token is invalid or expired") from exc
        if validated_token.get(TOKEN_VERSION_CLAIM) != user.token_version:
            raise InvalidToken("Token is invalid or expired")
        return user
