"""Shapes of API keys in the API: the key itself appears only in the creation response."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiKey

API_KEY_FIELDS = ["id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at"]


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    """A key as its owner sees it: never the secret, never the digest."""

    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ApiKey
        fields = API_KEY_FIELDS
        read_only_fields = fields


class ApiKeyCreatedSerializer(ApiKeyOutputSerializer):
    """The creation response: the only place the key is ever shown."""

    key = serializers.CharField(read_only=True, help_text="dsh_<prefix>_<secret>; shown only here.")

    class Meta(ApiKeyOutputSerializer.Meta):
        fields = [*API_KEY_FIELDS, "key"]
        read_only_fields = fields


class AdminApiKeyOutputSerializer(ApiKeyOutputSerializer):
    class Meta(ApiKeyOutputSerializer.Meta):
        fields = [*API_KEY_FIELDS, "user"]
        read_only_fields = fields


class ApiKeyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=255),
        allow_empty=False,
        max_length=200,
        help_text='Permissions as "app.codename"; only dashboard permissions the caller holds.',
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Never expires when absent.")


class AdminApiKeyFilterSerializer(serializers.Serializer):
    user = serializers.IntegerField(required=False, min_value=1, help_text="Keys of this user id.")
    active = serializers.BooleanField(
        required=False, help_text="true: keys that work now (not revoked, not expired, owner active)."
    )
