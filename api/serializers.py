"""The management API's request and response bodies. Validation of shape only: the rules live in services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clients.jwks import ALGORITHMS, JWKSError, PublicKey, parse_jwks
from clients.limits import MAX_TOKEN_TTL
from clients.models import (
    MAX_RESOURCE_IDENTIFIER,
    AuditEvent,
    Client,
    ClientKey,
    ClientSecret,
    ResourceServer,
    Trust,
    validate_grace,
)
from clients.services import Credential
from tokens.models import AccessToken
from tokens.usage import SecretUsage, minted_by, secret_usage

MAX_SCOPES_PER_REQUEST = 200


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


def _resource_field(**kwargs: Any) -> Text:
    return Text(max_length=MAX_RESOURCE_IDENTIFIER, allow_null=True, **kwargs)


class ScopeSerializer(StrictSerializer):
    name = Text(max_length=128)
    description = Text(max_length=10000, allow_blank=True, required=False, default="")
    resource = _resource_field(
        required=False,
        default=None,
        help_text="The identifier of the resource server the scope belongs to; null for a global scope.",
    )
    created_at = serializers.DateTimeField(read_only=True)


class ScopeUpdateSerializer(StrictSerializer):
    description = Text(max_length=10000, allow_blank=True, required=False)
    resource = _resource_field(
        required=False,
        help_text="Move the scope to this resource server (null: make it global). Ends the live tokens of every "
        "client holding it; needs gatehouse:resource-servers:write and the scope itself.",
    )


class ResourceServerSerializer(serializers.Serializer):
    identifier = serializers.CharField(read_only=True, help_text="An absolute URI without a fragment (RFC 8707).")
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    owner = serializers.CharField(read_only=True)
    status = serializers.SerializerMethodField()
    scopes = serializers.SerializerMethodField(help_text="The scopes that belong to it.")
    introspectors = serializers.SerializerMethodField(help_text="Client ids of the clients introspecting for it.")
    created_at = serializers.DateTimeField(read_only=True)
    created_by = serializers.CharField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    retired_at = serializers.DateTimeField(read_only=True, allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=["active", "retired"]))
    def get_status(self, resource_server: ResourceServer) -> str:
        return "active" if resource_server.is_active else "retired"

    def get_scopes(self, resource_server: ResourceServer) -> list[str]:
        return sorted(scope.name for scope in resource_server.scopes.all())

    def get_introspectors(self, resource_server: ResourceServer) -> list[str]:
        return sorted(client.client_id for client in resource_server.introspectors.all())


class ResourceServerPatchSerializer(StrictSerializer):
    name = Text(max_length=200, required=False)
    description = Text(max_length=10000, allow_blank=True, required=False)
    owner = Text(max_length=200, allow_blank=True, required=False)


class ResourceServerCreateSerializer(ResourceServerPatchSerializer):
    identifier = Text(max_length=MAX_RESOURCE_IDENTIFIER, help_text="e.g. https://orders.example.com; never changes.")
    name = Text(max_length=200)
    description = Text(max_length=10000, allow_blank=True, default="")
    owner = Text(max_length=200, allow_blank=True, default="")


class ResourceServerReplaceSerializer(ResourceServerPatchSerializer):
    name = Text(max_length=200)
    description = Text(max_length=10000, allow_blank=True, default="")
    owner = Text(max_length=200, allow_blank=True, default="")


class ClientSerializer(serializers.Serializer):
    client_id = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    owner = serializers.CharField(read_only=True, help_text="The team or person responsible for it.")
    contact = serializers.CharField(read_only=True, help_text="An email address or an http(s) URL.")
    scopes = serializers.SerializerMethodField()
    can_introspect = serializers.BooleanField(read_only=True)
    resource = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="For a client that may introspect: the resource server it speaks for (null: a global introspector).",
    )
    token_ttl = serializers.IntegerField(read_only=True, help_text="Lifetime of its tokens, in seconds.")
    status = serializers.SerializerMethodField()
    auth_method = serializers.ChoiceField(
        choices=Client.AuthMethod.values, read_only=True, help_text="client_secret, private_key_jwt or federated."
    )
    jwks_uri = serializers.CharField(read_only=True, help_text="private_key_jwt: where its keys are fetched.")
    trust = serializers.SerializerMethodField(help_text="federated: the name of its trust.")
    subject = serializers.CharField(read_only=True, help_text="federated: the subject it is bound to.")
    created_at = serializers.DateTimeField(read_only=True)
    created_by = serializers.CharField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_scopes(self, client: Client) -> list[str]:
        return client.scope_names()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_trust(self, client: Client) -> str | None:
        return client.trust.name if client.trust_id is not None and client.trust else None

    @extend_schema_field(serializers.ChoiceField(choices=["active", "disabled"]))
    def get_status(self, client: Client) -> str:
        return "active" if client.is_active else "disabled"


class ClientCreatedSerializer(ClientSerializer):
    client_secret = serializers.CharField(
        required=False,
        allow_null=True,
        help_text=(
            "The secret, shown this once and never again; null for a client that authenticates without one "
            "(private_key_jwt, federated). Absent when the create is an idempotent replay."
        ),
    )


class ClientPatchSerializer(StrictSerializer):
    """PATCH: every field optional; the ones sent are changed."""

    name = Text(max_length=200, required=False)
    description = Text(max_length=10000, allow_blank=True, required=False)
    owner = Text(max_length=200, allow_blank=True, required=False, help_text="The team or person responsible for it.")
    contact = Text(max_length=254, allow_blank=True, required=False, help_text="An email address or an http(s) URL.")
    scopes = serializers.ListField(child=Text(max_length=128), max_length=MAX_SCOPES_PER_REQUEST, required=False)
    can_introspect = Flag(required=False)
    resource = _resource_field(
        required=False,
        help_text="With can_introspect: the resource server it introspects for; null: a global introspector "
        "(needs gatehouse:admin).",
    )
    token_ttl = Whole(min_value=1, max_value=MAX_TOKEN_TTL, required=False)


class ClientCreateSerializer(ClientPatchSerializer):
    name = Text(max_length=200)
    description = Text(max_length=10000, allow_blank=True, default="")
    owner = Text(max_length=200, allow_blank=True, default="")
    contact = Text(max_length=254, allow_blank=True, default="", help_text="An email address or an http(s) URL.")
    scopes = serializers.ListField(child=Text(max_length=128), max_length=MAX_SCOPES_PER_REQUEST, default=list)
    can_introspect = Flag(default=False)
    resource = _resource_field(default=None, help_text="With can_introspect: the resource server it introspects for.")
    token_ttl = Whole(
        min_value=1, max_value=MAX_TOKEN_TTL, required=False, help_text="Default: GATEHOUSE_DEFAULT_TOKEN_TTL."
    )


class JWKSField(serializers.JSONField):
    """A JWKS as a JSON object, validated into public keys (clients.jwks)."""

    def to_internal_value(self, data: Any) -> list[PublicKey]:  # type: ignore[override]  # validated keys
        try:
            return parse_jwks(data if isinstance(data, dict) else {"keys": None})
        except JWKSError as error:
            raise serializers.ValidationError(str(error)) from None


class CredentialSerializer(StrictSerializer):
    """How a client authenticates without a secret: one of jwks, jwks_uri, or trust with subject."""

    jwks = JWKSField(required=False, help_text="private_key_jwt: its public keys, a JWKS object.")
    jwks_uri = Text(max_length=500, required=False, help_text="private_key_jwt: an https URL of its JWKS.")
    trust = Text(max_length=100, required=False, help_text="federated: the trust's name.")
    subject = Text(max_length=500, required=False, help_text="federated: the `sub` its trust's tokens carry.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        trust = None
        if "trust" in attrs:
            trust = Trust.objects.filter(name=attrs["trust"]).first()
            if trust is None:
                raise serializers.ValidationError({"trust": ["no trust of that name"]})
        if ("trust" in attrs) != ("subject" in attrs):
            raise serializers.ValidationError({"subject": ["trust and subject go together"]})
        return {
            "credential": Credential(
                keys=attrs.get("jwks"),
                jwks_uri=attrs.get("jwks_uri", ""),
                trust=trust,
                subject=attrs.get("subject", ""),
            )
        }


class ClientCreateWithCredentialSerializer(ClientCreateSerializer, CredentialSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        credential_fields: dict[str, Any] = {
            k: attrs.pop(k) for k in ("jwks", "jwks_uri", "trust", "subject") if k in attrs
        }
        attrs = ClientCreateSerializer.validate(self, attrs)
        return {**attrs, **CredentialSerializer.validate(self, credential_fields)}


class SwitchAuthSerializer(CredentialSerializer):
    auth_method = serializers.ChoiceField(
        choices=Client.AuthMethod.values, help_text="The new method; its credential goes in the other fields."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        method = attrs.pop("auth_method")
        credential = super().validate(attrs)["credential"]
        if credential.auth_method != method:
            raise serializers.ValidationError({"auth_method": [f"{method} needs its credential (and no other)"]})
        return {"credential": credential}


class KeysAddSerializer(StrictSerializer):
    jwks = JWKSField(help_text="The public keys to register, a JWKS object.")


class KeySerializer(serializers.Serializer):
    """A registered public key and its history; the JWK itself is public."""

    kid = serializers.CharField(read_only=True)
    kty = serializers.CharField(read_only=True)
    alg = serializers.CharField(read_only=True)
    thumbprint = serializers.CharField(read_only=True, help_text="RFC 7638, SHA-256, base64url.")
    state = serializers.ChoiceField(choices=["active", "retired"], read_only=True)
    jwk = serializers.JSONField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    created_by = serializers.CharField(read_only=True)
    retired_at = serializers.DateTimeField(read_only=True, allow_null=True)
    retired_by = serializers.CharField(read_only=True)
    last_used_at = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_used_at(self, key: ClientKey) -> str | None:
        used = key.last_used()
        return serializers.DateTimeField().to_representation(used) if used else None


class TrustSerializer(StrictSerializer):
    name = Text(max_length=100)
    issuer = Text(max_length=500)
    audience = Text(max_length=500)
    jwks = JWKSField(required=False, write_only=True, help_text="Its public keys inline (one key source).")
    jwks_uri = Text(max_length=500, required=False, allow_blank=True, help_text="Or where it publishes them.")
    discover = Flag(required=False, default=False, help_text="Or find them by OIDC discovery of the issuer.")
    algorithms = serializers.ListField(
        child=serializers.ChoiceField(choices=[a for a in ALGORITHMS if a != "Ed25519"]),
        required=False,
        max_length=4,
        help_text="Accepted signing algorithms (default RS256 and ES256).",
    )
    keys = serializers.CharField(source="key_source", read_only=True, help_text="jwks, jwks_uri or discovery.")
    is_active = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class TrustKeysSerializer(serializers.Serializer):
    name = serializers.CharField()
    kids = serializers.ListField(child=serializers.CharField(), help_text="The key ids the issuer publishes now.")


class ClientReplaceSerializer(ClientPatchSerializer):
    """PUT: the whole changeable state (a missing description, owner or contact becomes empty)."""

    name = Text(max_length=200)
    description = Text(max_length=10000, allow_blank=True, default="")
    owner = Text(max_length=200, allow_blank=True, default="")
    contact = Text(max_length=254, allow_blank=True, default="")
    scopes = serializers.ListField(child=Text(max_length=128), max_length=MAX_SCOPES_PER_REQUEST)
    can_introspect = Flag()
    resource = _resource_field(default=None, help_text="With can_introspect: the resource server it introspects for.")
    token_ttl = Whole(min_value=1, max_value=MAX_TOKEN_TTL)


class PageSerializer(StrictSerializer):
    page = serializers.IntegerField(min_value=1, required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=500, required=False)


class ClientFilterSerializer(PageSerializer):
    status = serializers.ChoiceField(choices=["active", "disabled"], required=False)
    scope = serializers.CharField(max_length=128, required=False, help_text="Clients holding this scope.")
    name = serializers.CharField(max_length=200, required=False, help_text="Part of the name, any case.")
    name_exact = serializers.CharField(
        max_length=200, required=False, help_text="The whole name, any case (names need not be unique)."
    )
    owner = serializers.CharField(max_length=200, required=False, help_text="Exactly this owner.")
    contact = serializers.CharField(max_length=254, required=False, help_text="Exactly this contact.")


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
    tokens_last_24h = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=ClientSecret.State.choices))
    def get_state(self, secret: ClientSecret) -> str:
        return secret.state().value

    def _usage(self, secret: ClientSecret) -> SecretUsage:
        """From the view's `usage` (all of a client's secrets in two queries), else for this one secret."""
        usage = self.context.get("usage") or secret_usage([secret], timezone.now())
        return usage[secret.pk]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_used_at(self, secret: ClientSecret) -> str | None:
        used = self._usage(secret).last_used
        return serializers.DateTimeField().to_representation(used) if used else None

    @extend_schema_field(serializers.IntegerField(help_text="Tokens this secret minted in the last 24 hours."))
    def get_tokens_last_24h(self, secret: ClientSecret) -> int:
        return self._usage(secret).issued_24h


def _check_grace(seconds: int) -> None:
    validate_grace(seconds)  # the one grace rule (clients.models), its message in `fields.grace_seconds`


class RotateSerializer(StrictSerializer):
    grace_seconds = Whole(
        default=0,
        validators=[_check_grace],
        help_text="How long the current secrets keep working (0: they stop now), at most GATEHOUSE_MAX_GRACE_SECONDS "
        "(30 days unless configured). An end never moves later.",
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


class TokenSerializer(serializers.Serializer):
    """A live token as staff see it: its row id, never the token nor anything derived from it."""

    id = serializers.IntegerField(read_only=True, help_text="The token's id for .../tokens/{id}/revoke/.")
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    issued_at = serializers.DateTimeField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    secret = serializers.CharField(
        read_only=True, allow_null=True, help_text="The hint of the secret that minted it; null if none did."
    )
    key = serializers.CharField(
        read_only=True, allow_null=True, help_text="The kid of the registered key that minted it (private_key_jwt)."
    )
    minted_by = serializers.CharField(
        read_only=True, help_text="The secret's hint, 'key:KID', 'jwks_uri' or 'federated'."
    )
    address = serializers.IPAddressField(read_only=True, allow_null=True, help_text="The address it was issued to.")

    def to_representation(self, token: AccessToken) -> dict[str, Any]:
        when = serializers.DateTimeField()
        return {
            "id": token.pk,
            "scopes": token.scope.split(),
            "issued_at": when.to_representation(datetime.fromtimestamp(token.issued_at, tz=UTC)),
            "expires_at": when.to_representation(datetime.fromtimestamp(token.expires_at, tz=UTC)),
            "secret": token.secret.hint if token.secret is not None else None,
            "key": token.key.kid if token.key is not None else None,
            "minted_by": minted_by(token),
            "address": token.address,
        }


class TokenRevokedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    revoked = serializers.BooleanField(help_text="false: the token was no longer live, nothing changed.")


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
