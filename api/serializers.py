"""The management API's request and response bodies. Validation of shape only: the rules live in services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clients.models import MAX_TOKEN_TTL, AuditEvent, Client, ClientSecret

MAX_SCOPES_PER_REQUEST = 200
MAX_GRACE_SECONDS = 30 * 86400


class Text(serializers.CharField):
    """A JSON string, and only a string: 42 is not silently taken for "42"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Flag(serializers.BooleanField):
    """A JSON true or false, and only that: "yes", 1 or "false" are refused rather than guessed at."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class Whole(serializers.IntegerField):
    """A JSON integer, and only that: "600", 600.5 and true are refused."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo in a pipeline fails loudly instead of being ignored."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return attrs


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (docs/api.md)."""

    error = serializers.CharField(help_text="A machine-readable code, e.g. invalid_request, insufficient_scope.")
    error_description = serializers.CharField(help_text="What went wrong, for people.")
    # DRF's metaclass moves declared fields off the class, so this does not shadow Serializer.fields at run time.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="On invalid_request: the messages for each field of the request.",
    )


class ScopeSerializer(StrictSerializer):
    name = Text(max_length=128)
    description = Text(max_length=10000, allow_blank=True, required=False, default="")
    created_at = serializers.DateTimeField(read_only=True)


class ScopeUpdateSerializer(StrictSerializer):
    description = Text(max_length=10000, allow_blank=True)


class ClientSerializer(serializers.Serializer):
    client_id = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    scopes = serializers.SerializerMethodField()
    can_introspect = serializers.BooleanField(read_only=True)
    token_ttl = serializers.IntegerField(read_only=True, help_text="Lifetime of its tokens, in seconds.")
    status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    created_by = serializers.CharField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_scopes(self, client: Client) -> list[str]:
        return client.scope_names()

    @extend_schema_field(serializers.ChoiceField(choices=["active", "disabled"]))
    def get_status(self, client: Client) -> str:
        return "active" if client.is_active else "disabled"


class ClientCreatedSerializer(ClientSerializer):
    client_secret = serializers.CharField(
        required=False,
        help_text="The secret, shown this once and never again. Absent when the create is an idempotent replay.",
    )


class ClientPatchSerializer(StrictSerializer):
    """PATCH: every field optional; the ones sent are changed."""

    name = Text(max_length=200, required=False)
    description = Text(max_length=10000, allow_blank=True, required=False)
    scopes = serializers.ListField(child=Text(max_length=128), max_length=MAX_SCOPES_PER_REQUEST, required=False)
    can_introspect = Flag(required=False)
    token_ttl = Whole(min_value=1, max_value=MAX_TOKEN_TTL, required=False)


class ClientCreateSerializer(ClientPatchSerializer):
    name = Text(max_length=200)
    description = Text(max_length=10000, allow_blank=True, default="")
    scopes = serializers.ListField(child=Text(max_length=128), max_length=MAX_SCOPES_PER_REQUEST, default=list)
    can_introspect = Flag(default=False)
    token_ttl = Whole(
        min_value=1, max_value=MAX_TOKEN_TTL, required=False, help_text="Default: GATEHOUSE_DEFAULT_TOKEN_TTL."
    )


class ClientReplaceSerializer(ClientPatchSerializer):
    """PUT: the whole changeable state (a missing description becomes empty)."""

    name = Text(max_length=200)
    description = Text(max_length=10000, allow_blank=True, default="")
    scopes = serializers.ListField(child=Text(max_length=128), max_length=MAX_SCOPES_PER_REQUEST)
    can_introspect = Flag()
    token_ttl = Whole(min_value=1, max_value=MAX_TOKEN_TTL)


class PageSerializer(StrictSerializer):
    page = serializers.IntegerField(min_value=1, required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=500, required=False)


class ClientFilterSerializer(PageSerializer):
    status = serializers.ChoiceField(choices=["active", "disabled"], required=False)
    scope = serializers.CharField(max_length=128, required=False, help_text="Clients holding this scope.")
    name = serializers.CharField(max_length=200, required=False, help_text="Part of the name, any case.")


class SecretSerializer(serializers.Serializer):
    """A secret's metadata; the secret itself is never stored, so never shown."""

    id = serializers.IntegerField(read_only=True)
    hint = serializers.CharField(read_only=True, help_text="Prefix and last four characters.")
    state = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    created_by = serializers.CharField(read_only=True)
    valid_until = serializers.DateTimeField(read_only=True, allow_null=True, help_text="null: until rotated.")
    retired_at = serializers.DateTimeField(read_only=True, allow_null=True)
    retired_by = serializers.CharField(read_only=True)
    last_used_at = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=ClientSecret.State.choices))
    def get_state(self, secret: ClientSecret) -> str:
        return secret.state().value

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_used_at(self, secret: ClientSecret) -> str | None:
        used = secret.last_used()
        return serializers.DateTimeField().to_representation(used) if used else None


class RotateSerializer(StrictSerializer):
    grace_seconds = Whole(
        min_value=0,
        max_value=MAX_GRACE_SECONDS,
        default=0,
        help_text="How long the current secrets keep working (0: they stop now). An end never moves later.",
    )
    revoke_tokens = Flag(
        default=False, help_text="Also end every live token of the client now (default: issued tokens stay live)."
    )


class RotatedSerializer(serializers.Serializer):
    client_id = serializers.CharField()
    client_secret = serializers.CharField(help_text="The new secret, shown this once and never again.")
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)
    tokens_revoked = serializers.IntegerField(help_text="Live tokens ended by this rotation (0 unless asked).")
    secret = SecretSerializer(help_text="The new secret's metadata.")


class TokensRevokedSerializer(serializers.Serializer):
    tokens_revoked = serializers.IntegerField()


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    at = serializers.DateTimeField(read_only=True)
    actor_type = serializers.ChoiceField(choices=AuditEvent.ActorType.choices, read_only=True)
    actor = serializers.CharField(read_only=True, help_text="Username, or client id for the API.")
    address = serializers.IPAddressField(read_only=True, allow_null=True)
    action = serializers.CharField(read_only=True)
    client = serializers.CharField(source="client.client_id", read_only=True, allow_null=True, default=None)
    target = serializers.CharField(read_only=True)
    changes = serializers.DictField(read_only=True, help_text="Before and after of each changed field.")


class AuditFilterSerializer(PageSerializer):
    client = serializers.CharField(max_length=64, required=False, help_text="A client id.")
    actor = serializers.CharField(max_length=200, required=False)
    actor_type = serializers.ChoiceField(choices=AuditEvent.ActorType.choices, required=False)
    action = serializers.CharField(max_length=40, required=False, help_text="e.g. client.create, secret.rotate.")
    since = serializers.DateTimeField(required=False, help_text="Events at or after this time (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Events before this time (ISO 8601).")
