"""Shapes of user data in the API."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MinLengthValidator
from rest_framework import serializers

from accounts.models import User
from accounts.selectors import user_mfa_enabled, user_permission_names, user_role_names
from accounts.services.mfa import mfa_code_parse
from core.serializers import FastOutputMixin


class UserOutputSerializer(FastOutputMixin, serializers.ModelSerializer):
    """A user as the admin API shows it: never a password hash."""

    roles = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "full_name",
            "is_active",
            "is_staff",
            "is_superuser",
            "date_joined",
            "last_login",
            "roles",
        ]
        read_only_fields = fields

    def get_roles(self, user: User) -> list[str]:
        return user_role_names(user=user)


class MeOutputSerializer(UserOutputSerializer):
    """The current user, with the effective permissions the app uses to hide what the user may not do."""

    permissions = serializers.SerializerMethodField()
    mfa_enabled = serializers.SerializerMethodField()

    class Meta(UserOutputSerializer.Meta):
        fields = [*UserOutputSerializer.Meta.fields, "permissions", "mfa_enabled"]
        read_only_fields = fields

    def get_permissions(self, user: User) -> list[str]:
        return user_permission_names(user=user)

    def get_mfa_enabled(self, user: User) -> bool:
        return user_mfa_enabled(user=user)


def _password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        trim_whitespace=False, max_length=4096, write_only=True, style={"input_type": "password"}, **kwargs
    )


class _StatedMinLength(MinLengthValidator):
    """A minimum length the schema states but this field does not enforce (the password service does)."""

    def __call__(self, value) -> None:
        return None


class NewPasswordField(serializers.CharField):
    """A password being set: the schema states the policy (``AUTH_PASSWORD_VALIDATORS``); the service applies it,
    together with the other fields' checks, so a short password is reported along with, say, a taken email."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_length", settings.PASSWORD_MIN_LENGTH)
        kwargs.setdefault(
            "help_text",
            f"At least {kwargs['min_length']} characters, not a common password, not all digits, "
            "not too similar to the email or name.",
        )
        super().__init__(
            trim_whitespace=False, max_length=4096, write_only=True, style={"input_type": "password"}, **kwargs
        )
        self.validators = [
            _StatedMinLength(v.limit_value) if isinstance(v, MinLengthValidator) else v for v in self.validators
        ]


def new_password_field(**kwargs) -> NewPasswordField:
    return NewPasswordField(**kwargs)


class MeUpdateSerializer(serializers.Serializer):
    """Only the name is writable here; anything else sent is ignored."""

    full_name = serializers.CharField(max_length=255, allow_blank=True)


class RegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = new_password_field()
    full_name = serializers.CharField(max_length=255, allow_blank=True, required=False, default="")


class LoginInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = _password_field()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class PasswordResetInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmInputSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = new_password_field()


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = _password_field()
    new_password = new_password_field()


class MfaCodeField(serializers.CharField):
    """A TOTP code (six digits) or, with *allow_recovery*, a recovery code; validated to an ``MfaCode``."""

    def __init__(self, *, allow_recovery: bool = True, **kwargs) -> None:
        self.allow_recovery = allow_recovery
        kwargs.setdefault("max_length", 64)
        help_text = "Six digits from the authenticator app" + (" or a recovery code." if allow_recovery else ".")
        kwargs.setdefault("help_text", help_text)
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        raw = super().run_validation(data)
        try:
            return mfa_code_parse(raw=raw, allow_recovery=self.allow_recovery)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["code"]) from None


class MfaChallengeSerializer(serializers.Serializer):
    """auth/login for an account with MFA: no tokens, a token for auth/login/mfa."""

    mfa_required = serializers.BooleanField(help_text="Always true.")
    mfa_token = serializers.CharField(help_text="Single use, for auth/login/mfa within 5 minutes; not a bearer token.")


class MfaLoginInputSerializer(serializers.Serializer):
    mfa_token = serializers.CharField(max_length=1024)
    code = MfaCodeField()


class TotpEnrolmentSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The TOTP secret, base32, for typing into an authenticator app.")
    otpauth_uri = serializers.CharField()
    qr_svg = serializers.CharField(help_text="The otpauth URI as a QR code, SVG markup.")


class TotpConfirmInputSerializer(serializers.Serializer):
    code = MfaCodeField(allow_recovery=False)


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(child=serializers.CharField(), help_text="Shown only in this response.")


class MfaDisableInputSerializer(serializers.Serializer):
    password = _password_field()
    code = MfaCodeField()


class MfaCodeInputSerializer(serializers.Serializer):
    code = MfaCodeField()
