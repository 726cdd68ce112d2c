"""factory-boy factories for accounts."""

import factory
from django.contrib.auth.models import Group

from accounts.models import User
from accounts.selectors import permissions_by_codes, roles_by_names

DEFAULT_PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    is_active = True

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or DEFAULT_PASSWORD)
        if create:
            self.save(update_fields=["password"])


class RoleFactory(factory.django.DjangoModelFactory):
    """A role (Group); ``permissions=["app.codename", ...]`` grants those permissions."""

    class Meta:
        model = Group
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"role{n}")

    @factory.post_generation
    def permissions(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        permissions, unknown = permissions_by_codes(codes=extracted)
        assert not unknown, f"unknown permissions: {unknown}"
        self.permissions.set(permissions)


class UserWithRolesFactory(UserFactory):
    """A user holding the roles named in ``roles=[...]`` (seeded ones such as ``viewer``, or made by RoleFactory)."""

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        roles, unknown = roles_by_names(names=extracted)
        assert not unknown, f"unknown roles: {unknown}"
        self.groups.set(roles)
