"""Shapes of user data in the API."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import User
from accounts.selectors import user_permission_names, user_role_names


class MeOutputSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()
    permissions = serializers.SerializerMethodField()

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
            "permissions",
        ]
        read_only_fields = fields

    def get_roles(self, user: User) -> list[str]:
        return user_role_names(user=user)

    def get_permissions(self, user: User) -> list[str]:
        return user_permission_names(user=user)
