"""The project's one authentication class: a JWT (with the per-user version check) or an API key."""

from __future__ import annotations

import threading

from django.db import DEFAULT_DB_ALIAS, connections, router
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts.api_key_authentication import authenticate_api_key
from accounts.api_keys import bearer_api_key
from accounts.models import User

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
        if api_settings.USER_ID_FIELD != "id" or api_settings.CHECK_REVOKE_TOKEN:
            try:
                user = super().get_user(validated_token)
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


_compiled = threading.local()


def user_by_id(user_id) -> User | None:
    """``User.objects.get(id=user_id)`` (None when missing), with its SQL compiled once per thread and database.

    The one query of every authenticated request: building it through the ORM each time cost about 0.3 ms of CPU,
    the query itself a quarter of that (bench/bench_api.py). Same SQL, same converters, same instance as the ORM's.
    """
    alias = router.db_for_read(User) or DEFAULT_DB_ALIAS
    cache = _compiled.__dict__.setdefault("by_alias", {})
    plan = cache.get(alias)
    if plan is None:
        query = User._default_manager.using(alias).filter(pk=0).order_by().query
        compiler = query.get_compiler(alias)
        sql, params = compiler.as_sql()
        assert len(params) == 1, params
        columns = [selected[0] for selected in compiler.select[: compiler.col_count]]
        names = [column.target.attname for column in columns]
        assert names == [field.attname for field in User._meta.concrete_fields], names
        plan = cache[alias] = (sql, compiler, compiler.get_converters(columns), names)
    sql, compiler, converters, names = plan
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [User._meta.pk.get_prep_value(user_id)])
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    return User.from_db(alias, names, row)
