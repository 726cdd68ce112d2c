"""The project's one authentication class: a JWT (with the per-user version check) or an API key."""

from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from accounts.api_key_authentication import authenticate_api_key
from accounts.api_keys import bearer_api_key

TOKEN_VERSION_CLAIM = "ver"
# On access tokens: the jti of the refresh token they were issued with (their session).
SESSION_CLAIM = "sid"


class VersionedJWTAuthentication(JWTAuthentication):
    """simplejwt's Bearer authentication plus the per-user token version check; a ``dsh_…`` bearer is an API key.

    Every failure (unknown or inactive user, stale version, bad key) is a 401 ``token_not_valid``.
    """

    def authenticate(self, request):
        raw_key = bearer_api_key(request.META.get("HTTP_AUTHORIZATION", ""))
        if raw_key is not None:
            return authenticate_api_key(request, raw_key)
        return super().authenticate(request)

    def get_user(self, validated_token):
        try:
            user = super().get_user(validated_token)
        except AuthenticationFailed as exc:
            raise InvalidToken("Token is invalid or expired") from exc
        if validated_token.get(TOKEN_VERSION_CLAIM) != user.token_version:
            raise InvalidToken("Token is invalid or expired")
        return user
