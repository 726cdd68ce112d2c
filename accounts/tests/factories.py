"""factory-boy factories for accounts."""

from typing import Any

import factory
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.selectors import permissions_by_codes, roles_by_names
from core.tests.factories import ModelFactory

DEFAULT_PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(ModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    is_active = True

    @factory.post_generation
    def password(user: User, create: bool, extracted: str | None, **kwargs: Any) -> None:
        user.set_password(extracted or DEFAULT_PASSWORD)
        if create:
            user.save(update_fields=["password"])


class RoleFactory(ModelFactory[Group]):
    """A role (Group); ``permissions=["app.codename", ...]`` grants those permissions."""

    class Meta:
        model = Group
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"role{n}")

    @factory.post_generation
    def permissions(role: Group, create: bool, extracted: list[str] | None, **kwargs: Any) -> None:
        if not create or not extracted:
            return
        permissions, unknown = permissions_by_codes(codes=extracted)
        assert not unknown, f"unknown permissions: {unknown}"
        role.permissions.set(permissions)


class UserWithRolesFactory(UserFactory):
    """A user holding the roles named in ``roles=[...]`` (seeded ones such as ``viewer``, or made by RoleFactory)."""

    @factory.post_generation
    def roles(user: User, create: bool, extracted: list[str] | None, **kwargs: Any) -> None:
        if not create or not extracted:
            return
        roles, unknown = roles_by_names(names=extracted)
        assert not unknown, f"unknown roles: {unknown}"
        user.groups.set(roles)


def protected_user(kind: str, caller: User) -> User:
    """A user only superusers may change, of the given *kind* (or the caller themselves for "self")."""
    if kind == "self":
        return caller
    if kind == "staff":
        return UserFactory(is_staff=True)
    if kind == "superuser":
        return UserFactory(is_superuser=True)
    if kind == "privileged role":
        return UserWithRolesFactory(roles=["user_admin"])
    if kind == "privileged-by-permission role":
        RoleFactory(name="quiet", permissions=["accounts.view_user"])
        return UserWithRolesFactory(roles=["quiet", "viewer"])
    if kind == "direct privileged permission":
        user = UserFactory()
        user.user_permissions.add(Permission.objects.get(codename="view_group"))
        return user
    raise AssertionError(kind)


def api_key_issue(user: User, scopes: list[str], **fields):
    """A real key for *user* through the service (scopes validated as in the API): ``ApiKeyIssued``."""
    from accounts.services.api_keys import api_key_create

    return api_key_create(user=user, name=fields.pop("name", "script"), scopes=scopes, **fields)


class ApiKeyClient(APIClient):
    """An APIClient that also carries the key it authenticates with."""

    api_key: ApiKey
    raw_key: str


def api_key_client(user: User, scopes: list[str], **fields) -> ApiKeyClient:
    """An APIClient authenticating with a new key of *user*; the key row is ``client.api_key``."""
    issued = api_key_issue(user, scopes, **fields)
    client = ApiKeyClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.key}")
    client.api_key = issued.api_key
    client.raw_key = issued.key
    return client


def key_secret(raw: str) -> str:
    """The secret part of a raw ``dsh_<prefix>_<secret>`` key; cut by position, since the secret may contain "_"."""
    secret = raw[len("dsh_") + 12 + 1 :]
    assert len(secret) == 43, raw
    return secret
