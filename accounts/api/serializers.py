"""Shapes of user data in the API."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import User
from accounts.selectors import user_permission_names, user_role_names


class UserOutputSerializer(serializers.ModelSerializer):
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

    class Meta(UserOutputSerializer.Meta):
        fields = [*UserOutputSerializer.Meta.fields, "permissions"]
        read_only_fields = fields

    def get_permissions(self, user: User) -> list[str]:
        return user_permission_names(user=user)


def _password_field() -> serializers.CharField:
    return serializers.CharField(
        trim_whitespace=False, max_length=4096, write_only=True, style={"input_type": "password"}
    )


class MeUpdateSerializer(serializers.Serializer):
    """Only the name is writable here; anything else sent is ignored."""

    full_name = serializers.CharField(max_length=255, allow_blank=True)


class RegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = _password_field()
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
    new_password = _password_field()


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = _password_field()
    new_password = _password_field()
