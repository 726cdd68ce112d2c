"""The custom user: email is the login, unique case-insensitively in the database."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, ClassVar, Self

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.api_key_rules import ApiKeyScopedPermissionsMixin
from accounts.managers import UserManager

if TYPE_CHECKING:
    from django_otp.models import Device

audit = logging.getLogger("dashboard.audit")


def authz_stamp() -> int:
    """A new value for ``User.authz_version`` (also its default): 63 random bits (``accounts.authz``)."""
    return secrets.randbits(63)


class User(ApiKeyScopedPermissionsMixin, AbstractBaseUser, PermissionsMixin):
    # unique=True keeps auth.E003 satisfied; the Lower() constraint below is what makes it case-insensitive.
    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Designates whether the user can log into the admin site.")
    date_joined = models.DateTimeField(default=timezone.now)
    # Bumped by save() on any password change and on deactivation: tokens carrying an older version stop working.
    token_version = models.PositiveIntegerField(default=0, editable=False)
    # A new random stamp on every change of the user's roles, permissions or MFA (accounts.signals): the key of the
    # cached access profile (accounts.authz).
    authz_version = models.BigIntegerField(default=authz_stamp, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    # Set by from_db and save (not a field): the stored is_active, to tell a deactivation.
    _stored_is_active: bool | None
    if TYPE_CHECKING:
        # AbstractBaseUser's pending raw password (set_password), not in django-stubs.
        _password: str | None
        # Set on request.user by django-otp's OTPMiddleware and its login(); only on requests that went through it.
        otp_device: Device | None

        def is_verified(self) -> bool: ...

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        ordering = ["-date_joined", "-id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message="A user with this email address already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @classmethod
    def from_db(cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any) -> Self:
        # **kwargs: django-stubs already describes Django 6.1's fetch_mode; Django 5.2 passes nothing more.
        user = super().from_db(db, field_names, values, **kwargs)
        user._stored_is_active = user.__dict__.get("is_active")
        return user

    def save(self, *args, **kwargs) -> None:
        """Saving a new password (set_password) or a deactivation revokes every token issued before, wherever the
        change comes from: the API, the admin, ``changepassword`` or the shell."""
        deactivated = getattr(self, "_stored_is_active", None) is True and not self.is_active
        revoke = self.pk is not None and (self._password is not None or deactivated)
        if revoke:
            self.token_version += 1
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "token_version"}
        super().save(*args, **kwargs)
        self._stored_is_active = self.is_active
        if revoke:
            reason = "deactivated" if deactivated else "password_changed"
            audit.info("tokens revoked", extra={"event": "tokens_revoked", "user_id": self.pk, "reason": reason})

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name or self.email


class Role(Group):
    """A role is a Django Group; this proxy only gives it its name in the admin."""

    class Meta:
        proxy = True
        verbose_name = "role"
        verbose_name_plural = "roles"
        ordering = ["name"]


class RotatedToken(models.Model):
    """A refresh token that refresh rotation blacklisted: presenting it again means it was stolen."""

    token = models.OneToOneField(OutstandingToken, on_delete=models.CASCADE, related_name="rotation")
    rotated_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"rotated {self.token_id}"


class ApiKey(models.Model):
    """A long-lived, scoped credential for machines: ``dsh_<prefix>_<secret>``, of which only a digest is stored.

    It acts as its owner with ``scopes`` ∩ the owner's current permissions (``accounts.api_key_rules``).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public identifier, part of the key.")
    # SHA-256 of the whole key: the secret has 256 random bits, so a slow hash would add nothing but latency.
    digest = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Permissions (app.codename) the key may use.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="accounts_apikey_user_created")]

    def __str__(self) -> str:
        return f"{self.name} (dsh_{self.prefix}_…)"

    def is_active_at(self, moment) -> bool:
        """Not revoked and not expired at *moment* (the owner's state is checked separately)."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > moment)


class RecoveryCode(models.Model):
    """A single-use MFA recovery code, kept only as a digest (the code itself is shown once, at issue).

    TOTP itself is django-otp's ``TOTPDevice``; django-otp's StaticToken would store these codes in plain text.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "digest"], name="accounts_recoverycode_unique")]

    def __str__(self) -> str:
        return f"recovery code {self.pk} of user {self.user_id}"
