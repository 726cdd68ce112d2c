"""The project's one authentication class: a JWT (with the per-user version check) or an API key."""

from __future__ import annotations

from typing import cast

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts.api_key_rules import bearer_api_key, route_allows_api_key
from accounts.exceptions import TokenNotValid
from accounts.models import ApiKey, User
from accounts.services.api_keys import api_key_authenticate
from accounts.services.tokens import TOKEN_VERSION_CLAIM
from core.compiled_sql import CompiledLookup
from core.throttles import ApiKeyThrottle


class VersionedJWTAuthentication(JWTAuthentication):
    """simplejwt's Bearer authentication plus the per-user token version check; a ``dsh_…`` bearer is an API key.

    Every failure (unknown or inactive user, stale version, bad key) is a 401 ``token_not_valid``.
    """

    def authenticate(self, request):
        raw_key = bearer_api_key(request.headers.get("authorization", ""))
        if raw_key is not None:
            return authenticate_api_key(request, raw_key)
        return super().authenticate(request)

    def get_user(self, validated_token):
        user: User | None
        if api_settings.USER_ID_FIELD != "id" or api_settings.CHECK_REVOKE_TOKEN:
            try:
                # simplejwt types it as any AbstractBaseUser; it is an instance of AUTH_USER_MODEL.
                user = cast(User, super().get_user(validated_token))
            except AuthenticationFailed as exc:
                raise InvalidToken("Token is invalid or expired") from exc
        else:
            user_id = validated_token.get(api_settings.USER_ID_CLAIM)
            user = user_by_id(user_id) if user_id is not None else None
            if user is None or not user.is_active:
                raise InvalidToken("Token is invalid or expired")
        if validated_token.get(TOKEN_VERSION_CLAIM) != user.token_version:
            raise InvalidToken("Token is invalid or expired")
        return user


# The one query of every JWT-authenticated request, compiled once (core.compiled_sql).
_USER_BY_ID = CompiledLookup(User, lambda pk: User._default_manager.filter(pk=pk), User._meta.pk.get_prep_value)


def user_by_id(user_id) -> User | None:
    """``User.objects.get(id=user_id)``, or None when missing: the same instance, without building the query."""
    return _USER_BY_ID.get(user_id)


# --- the API-key branch: who the caller is when the bearer is ``dsh_…`` ----------------------------------------


class ApiKeyRouteDenied(exceptions.PermissionDenied):
    default_detail = "API keys cannot be used on this endpoint; sign in and use an access token."


def authenticate_api_key(request, raw: str) -> tuple[User, ApiKey]:
    """``(owner, key)`` for DRF: 401 for a bad key, 403 on routes keys may not reach, 429 over the key's rate.

    The owner comes back with ``api_key`` set, so every permission check of this request answers with the key's
    effective permissions (``accounts.api_key_rules.ApiKeyScopedPermissionsMixin``).
    """
    try:
        api_key = api_key_authenticate(raw=raw)
    except TokenNotValid as error:
        # DRF's own exception: DRF then records the request as unauthenticated before the error handler answers.
        raise exceptions.AuthenticationFailed(error.message, error.code) from error
    if not route_allows_api_key(method=request.method, path=request.path):
        raise ApiKeyRouteDenied()
    throttle = ApiKeyThrottle()
    if not throttle.allow_request(request, api_key):
        raise exceptions.Throttled(wait=throttle.wait())
    user = api_key.user
    user.api_key = api_key
    return user, api_key
