"""The user manager: email is the login, normalised and matched case-insensitively."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.base_user import BaseUserManager

from accounts.email_addresses import email_match, email_normalize

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from accounts.models import User


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        return email_normalize(email or "")

    def with_email(self, email: str) -> QuerySet[User]:
        """The users (at most one) whose address is *email* in any case, as the unique constraint compares them."""
        return self.filter(email_match(email))

    # Django's stub says str | None; ModelBackend returns before the lookup when it has no username.
    def get_by_natural_key(self, email: str) -> User:  # type: ignore[override]  # narrower on purpose: None never arrives
        """Case-insensitive lookup, so login and ``createsuperuser`` treat ``A@x.io`` and ``a@x.io`` as one."""
        return self.with_email(email).get()

    def _create_user(self, email: str, password: str | None, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields.get("is_staff") is not True:
            raise ValueError("Superuser must have is_staff=True.")
        if extra_fields.get("is_superuser") is not True:
            raise ValueError("Superuser must have is_superuser=True.")
        return self._create_user(email, password, **extra_fields)
