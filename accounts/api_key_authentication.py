"""The API-key branch of the project's authentication class: who the caller is when the bearer is ``dsh_…``."""

from __future__ import annotations

from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled

from accounts.api_keys import route_allows_api_key
from accounts.exceptions import TokenNotValid
from accounts.models import ApiKey, User
from accounts.services.api_keys import api_key_authenticate
from core.throttles import ApiKeyThrottle


class ApiKeyRouteDenied(PermissionDenied):
    default_detail = "API keys cannot be used on this endpoint; sign in and use an access token."


def authenticate_api_key(request, raw: str) -> tuple[User, ApiKey]:
    """``(owner, key)`` for DRF: 401 for a bad key, 403 on routes keys may not reach, 429 over the key's rate.

    The owner comes back with ``api_key`` set, so every permission check of this request answers with the key's
    effective permissions (``accounts.api_keys.ApiKeyScopedPermissionsMixin``).
    """
    try:
        api_key = api_key_authenticate(raw=raw)
    except TokenNotValid as error:
        # DRF's own exception: DRF then records the request as unauthenticated before the error handler answers.
        raise AuthenticationFailed(error.message, error.code) from error
    if not route_allows_api_key(method=request.method, path=request.path):
        raise ApiKeyRouteDenied()
    throttle = ApiKeyThrottle()
    if not throttle.allow_request(request, api_key):
        raise Throttled(wait=throttle.wait())
    user = api_key.user
    user.api_key = api_key
    return user, api_key
