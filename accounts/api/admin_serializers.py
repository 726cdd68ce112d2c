"""Shapes of the administration API: users, roles, permissions, and the users list's filters."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from rest_framework import serializers

from accounts.api.serializers import new_password_field
from accounts.selectors import (
    permission_code,
    permissions_by_codes,
    role_permission_codes,
    roles_by_names,
)


class AdminUserInputSerializer(serializers.Serializer):
    """A user as an administrator writes it: email and password required on create, any subset on PATCH.

    Keys not listed here (``id``, ``token_version``, ``user_permissions``...) are ignored, never applied.
    """

    email = serializers.EmailField(max_length=254)
    password = new_password_field()
    full_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    is_staff = serializers.BooleanField(required=False, help_text="Superusers only; anyone else sending it gets 403.")
    is_superuser = serializers.BooleanField(
        required=False, help_text="Superusers only; anyone else sending it gets 403."
    )
    roles = serializers.ListField(child=serializers.CharField(max_length=150), required=False, help_text="Role names.")

    def validate_roles(self, names: list[str]) -> list[Group]:
        roles, unknown = roles_by_names(names=names)
        if unknown:
            raise serializers.ValidationError([f"Unknown role: {name}." for name in unknown])
        return roles


class AdminUserFilterSerializer(serializers.Serializer):
    search = serializers.CharField(required=False, help_text="Part of the email or full name, any case.")
    is_active = serializers.BooleanField(required=False, help_text="true or false.")
    role = serializers.CharField(required=False, help_text="A role name; only users holding it.")


class RoleOutputSerializer(serializers.ModelSerializer):
    permissions = serializers.SerializerMethodField()

    class Meta:
        model = Group
        fields = ["id", "name", "permissions"]
        read_only_fields = fields

    def get_permissions(self, role: Group) -> list[str]:
        return role_permission_codes(role=role)


class RoleInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    permissions = serializers.ListField(
        child=serializers.CharField(), required=False, help_text='Permission codes, "app_label.codename".'
    )

    def validate_permissions(self, codes: list[str]) -> list[Permission]:
        permissions, unknown = permissions_by_codes(codes=codes)
        if unknown:
            raise serializers.ValidationError([f"Unknown permission: {code}." for code in unknown])
        return permissions


class PermissionOutputSerializer(serializers.Serializer):
    codename = serializers.SerializerMethodField(help_text='"app_label.codename".')
    name = serializers.CharField(read_only=True)

    def get_codename(self, permission: Permission) -> str:
        return permission_code(permission)
