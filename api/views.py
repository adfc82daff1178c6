"""The management API under /api/v1/: clients, their secrets, scopes and the audit trail (docs/api.md).

Views stay thin: they check the caller's token (api.authentication), validate the body's shape
(api.serializers) and call the same services the admin and the command line use, with the calling client
as the audit actor. Every error is rendered by api.errors.api_exception_handler.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api import schema  # noqa: F401 - registers the bearer scheme with drf-spectacular
from api import services as api_services
from api.authentication import BearerAuthentication, HasScope
from api.errors import api_exception_handler
from api.serializers import (
    AuditEventSerializer,
    AuditFilterSerializer,
    ClientCreatedSerializer,
    ClientCreateWithCredentialSerializer,
    ClientFilterSerializer,
    ClientPatchSerializer,
    ClientReplaceSerializer,
    ClientSerializer,
    ErrorSerializer,
    KeysAddSerializer,
    KeySerializer,
    PageSerializer,
    ResourceServerCreateSerializer,
    ResourceServerPatchSerializer,
    ResourceServerReplaceSerializer,
    ResourceServerSerializer,
    RotatedSerializer,
    RotateSerializer,
    ScopeSerializer,
    ScopeUpdateSerializer,
    SecretSerializer,
    SwitchAuthSerializer,
    TokenRevokedSerializer,
    TokenSerializer,
    TokensRevokedSerializer,
    TrustKeysSerializer,
    TrustSerializer,
)
from clients import jwks, services
from clients.models import (
    AUDIT_READ,
    CLIENTS_READ,
    CLIENTS_WRITE,
    RESOURCE_SERVERS_WRITE,
    AuditEvent,
    Client,
    ClientSecret,
    ResourceServer,
    Scope,
    Trust,
)
from tokens.addresses import client_address
from tokens.models import AccessToken, Bearer
from tokens.services import token_revoke
from tokens.usage import live_tokens, secret_usage

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error responses an operation documents: bad input, no or bad token, not found (or past the last page)."""
    return {code: OpenApiResponse(ErrorSerializer) for code in sorted({400, 401, 403, 404, *codes})}


class Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ApiViewSet(GenericViewSet):
    """Bearer authentication, a read scope for GET and a write scope for the rest, the API's error shape, JSON."""

    authentication_classes = [BearerAuthentication]
    permission_classes = [HasScope]
    pagination_class = Pages
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]  # no OPTIONS: the schema says it all
    read_scope = CLIENTS_READ
    write_scope = CLIENTS_WRITE

    def required_scope(self, request: Request) -> str:
        return self.read_scope if request.method in SAFE_METHODS else self.write_scope

    def get_object(self):  # type: ignore[no-untyped-def]
        value = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        if any(ord(char) < 0x20 for char in value):  # no id or scope name has one; PostgreSQL refuses NUL
            raise NotFound()
        return super().get_object()

    def get_exception_handler(self):  # type: ignore[no-untyped-def]
        return api_exception_handler

    def actor(self) -> services.Actor:
        """The calling client, with its token's scopes as its authority (the services apply the grant rule)."""
        bearer = self.bearer()
        return services.Actor.api_client(
            bearer.client_id,
            client_address(self.request) or None,  # as the throttle and the access log name it
            scopes=bearer.scopes,
            caller=services.Caller(bearer.client_pk, bearer.generation, bearer.secret_pk, bearer.key_pk),
        )

    def bearer(self) -> Bearer:
        """The caller's token, as BearerAuthentication left it on the request."""
        return cast(Bearer, self.request.auth)

    def filters(self, serializer_class: type[drf_serializers.Serializer]) -> dict[str, Any]:
        query = serializer_class(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        return query.validated_data

    def page(self, queryset: QuerySet, serializer_class: type[drf_serializers.Serializer]) -> Response:
        items = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(items, many=True).data)


def _body(serializer_class: type[drf_serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    fields = dict(serializer.validated_data)
    if "resource" in fields:  # an identifier in the API, a registry row for the services
        fields["resource_server"] = _resource_server(fields.pop("resource"))
    return fields


def _resource_server(identifier: str | None) -> ResourceServer | None:
    if identifier is None:
        return None
    found = ResourceServer.objects.filter(identifier=identifier).first()
    if found is None:
        raise drf_serializers.ValidationError({"resource": [f"no resource server {identifier}"]})
    return found


@extend_schema_view(
    list=extend_schema(
        summary="List clients",
        parameters=[ClientFilterSerializer],
        responses={200: ClientSerializer(many=True), **errors()},
    ),
    retrieve=extend_schema(summary="Show a client", responses={200: ClientSerializer, **errors(404)}),
)
class ClientViewSet(ApiViewSet):
    """Clients: register, read, change, disable and enable them, rotate and retire their secrets."""

    queryset = Client.objects.select_related("resource_server").prefetch_related("scopes")
    serializer_class = ClientSerializer
    lookup_field = "client_id"
    lookup_value_regex = "[^/]+"

    def list(self, request: Request) -> Response:
        query = self.filters(ClientFilterSerializer)
        clients = self.get_queryset()
        if "status" in query:
            clients = clients.filter(is_active=query["status"] == "active")
        if "scope" in query:
            clients = clients.filter(scopes__name=query["scope"])
        if "name" in query:
            clients = clients.filter(name__icontains=query["name"])
        if "name_exact" in query:
            clients = clients.filter(name__iexact=query["name_exact"])
        for field in ("owner", "contact"):
            if field in query:
                clients = clients.filter(**{field: query[field]})
        return self.page(clients, ClientSerializer)

    def retrieve(self, request: Request, client_id: str) -> Response:
        return Response(ClientSerializer(self.get_object()).data)

    @extend_schema(
        summary="Register a client",
        description=(
            "Returns the client and its first secret, shown this once; with `jwks`, `jwks_uri` or `trust` and "
            "`subject` it authenticates without a secret (`client_secret` is null: docs/secretless.md). With an "
            "`Idempotency-Key` header, a retry "
            "of the same request within 24 hours returns the same client (without the secret, with the header "
            "`Idempotent-Replayed: true`); the same key with a different request is refused with 422."
        ),
        request=ClientCreateWithCredentialSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="1-255 printable ASCII characters chosen by the caller, e.g. a UUID.",
                pattern=IDEMPOTENCY_KEY_PATTERN.pattern,
            )
        ],
        responses={201: ClientCreatedSerializer, **errors(422)},
    )
    def create(self, request: Request) -> Response:
        fields = _body(ClientCreateWithCredentialSerializer, request)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        created: services.NewSecret | api_services.Replay
        if key is None:
            created = services.client_create(actor=self.actor(), **fields)
        elif not IDEMPOTENCY_KEY_PATTERN.match(key):
            raise drf_serializers.ValidationError({IDEMPOTENCY_HEADER: ["1-255 printable ASCII characters"]})
        else:
            created = api_services.client_create_idempotent(
                caller_pk=self.bearer().client_pk, key=key, actor=self.actor(), **fields
            )
        if isinstance(created, api_services.Replay):
            body = ClientCreatedSerializer(created.client).data
            body.pop("client_secret", None)  # a replay never has it (the field is nullable for secretless clients)
            return Response(body, status=status.HTTP_201_CREATED, headers={REPLAYED_HEADER: "true"})
        body = ClientCreatedSerializer(created.client).data
        body["client_secret"] = created.plaintext
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    def _update(self, request: Request, serializer_class: type[drf_serializers.Serializer]) -> Response:
        client = self.get_object()
        fields = _body(serializer_class, request)
        scopes = fields.pop("scopes", None)
        client = services.client_update(client=client, actor=self.actor(), scopes=scopes, **fields)
        return Response(ClientSerializer(client).data)

    @extend_schema(
        summary="Replace a client's settings",
        request=ClientReplaceSerializer,
        responses={200: ClientSerializer, **errors(404)},
    )
    def update(self, request: Request, client_id: str) -> Response:
        return self._update(request, ClientReplaceSerializer)

    @extend_schema(
        summary="Change some of a client's settings",
        request=ClientPatchSerializer,
        responses={200: ClientSerializer, **errors(404)},
    )
    def partial_update(self, request: Request, client_id: str) -> Response:
        return self._update(request, ClientPatchSerializer)

    @extend_schema(
        summary="Disable a client",
        description="It can no longer get tokens, and its live tokens end now (enabling it again revives none).",
        request=None,
        responses={200: ClientSerializer, **errors(404)},
    )
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, client_id: str) -> Response:
        client = services.client_disable(client=self.get_object(), actor=self.actor())
        return Response(ClientSerializer(client).data)

    @extend_schema(summary="Enable a client", request=None, responses={200: ClientSerializer, **errors(404)})
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, client_id: str) -> Response:
        client = services.client_enable(client=self.get_object(), actor=self.actor())
        return Response(ClientSerializer(client).data)

    @extend_schema(
        summary="Rotate a client's secret",
        description=(
            "Issues a new secret, shown this once; the current ones keep working for the grace period. Issued "
            "tokens stay live unless `revoke_tokens` is true."
        ),
        request=RotateSerializer,
        responses={200: RotatedSerializer, **errors(404)},
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, client_id: str) -> Response:
        client = self.get_object()
        body = _body(RotateSerializer, request)
        new = services.client_rotate_secret(
            client=client,
            grace=timedelta(seconds=body["grace_seconds"]),
            revoke_tokens=body["revoke_tokens"],
            actor=self.actor(),
        )
        body = {
            "client_id": new.client.client_id,
            "client_secret": new.plaintext,
            "previous_secret_expires_at": new.previous_secret_expires_at,
            "tokens_revoked": new.tokens_revoked,
            "secret": new.secret,
        }
        return Response(RotatedSerializer(body).data, headers={"Cache-Control": "no-store"})

    @extend_schema(
        summary="List a client's secrets (metadata only)",
        responses={200: SecretSerializer(many=True), **errors(404)},
    )
    @action(detail=True, methods=["get"], pagination_class=None)  # a handful per client: all of them at once
    def secrets(self, request: Request, client_id: str) -> Response:
        secrets = list(self.get_object().secrets.all())
        usage = secret_usage(secrets, timezone.now())
        return Response(SecretSerializer(secrets, many=True, context={"usage": usage}).data)

    @extend_schema(
        summary="Retire one secret now",
        description=(
            "Ends one secret (e.g. a leaked one) and the tokens it minted, without touching the client's other "
            "secrets or their tokens."
        ),
        request=None,
        parameters=[OpenApiParameter("secret_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={200: SecretSerializer, **errors(404)},
    )
    @action(detail=True, methods=["post"], url_path=r"secrets/(?P<secret_id>[0-9]{1,18})/retire")
    def retire_secret(self, request: Request, client_id: str, secret_id: str) -> Response:
        client = self.get_object()
        secret = ClientSecret.objects.filter(client=client, pk=int(secret_id)).first()
        if secret is None:
            raise NotFound("this client has no such secret")
        secret = services.secret_retire(secret=secret, actor=self.actor())
        return Response(SecretSerializer(secret).data)

    @extend_schema(
        summary="List a client's live tokens",
        description="Never the tokens themselves: each by its id, with its scopes, times, secret and address.",
        parameters=[PageSerializer],
        responses={200: TokenSerializer(many=True), **errors(404)},
    )
    @action(detail=True, methods=["get"])
    def tokens(self, request: Request, client_id: str) -> Response:
        self.filters(PageSerializer)
        return self.page(live_tokens(self.get_object(), timezone.now()), TokenSerializer)

    @extend_schema(
        summary="Revoke one of a client's live tokens",
        description="Audited as token.revoke. `revoked` is false if the token was no longer live.",
        request=None,
        parameters=[OpenApiParameter("token_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={200: TokenRevokedSerializer, **errors(404)},
    )
    @action(detail=True, methods=["post"], url_path=r"tokens/(?P<token_id>[0-9]{1,18})/revoke")
    def revoke_token(self, request: Request, client_id: str, token_id: str) -> Response:
        try:
            revoked = token_revoke(token_id=int(token_id), client=self.get_object(), actor=self.actor())
        except AccessToken.DoesNotExist:
            raise NotFound("this client has no such token") from None
        return Response({"id": int(token_id), "revoked": revoked})

    @extend_schema(
        summary="List a private_key_jwt client's keys (active and retired)",
        methods=["GET"],
        responses={200: KeySerializer(many=True), **errors(404)},
    )
    @extend_schema(
        summary="Register more public keys (a JWKS) for a private_key_jwt client",
        methods=["POST"],
        request=KeysAddSerializer,
        responses={201: KeySerializer(many=True), **errors(404)},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def keys(self, request: Request, client_id: str) -> Response:
        client = self.get_object()
        if request.method == "GET":
            return Response(KeySerializer(client.keys.all(), many=True).data)
        body = _body(KeysAddSerializer, request)
        added = services.client_key_add(client=client, keys=body["jwks"], actor=self.actor())
        return Response(KeySerializer(added, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Retire one key now",
        description="Assertions it signs are refused and the tokens it minted end, on every instance.",
        request=None,
        parameters=[OpenApiParameter("kid", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={200: KeySerializer, **errors(404)},
    )
    @action(detail=True, methods=["post"], url_path=r"keys/(?P<kid>[^/]{1,200})/retire")
    def retire_key(self, request: Request, client_id: str, kid: str) -> Response:
        client = self.get_object()
        if not client.keys.filter(kid=kid, retired_at__isnull=True).exists():
            raise NotFound("this client has no such active key")
        key = services.client_key_retire(client=client, kid=kid, actor=self.actor())
        return Response(KeySerializer(key).data)

    @extend_schema(
        summary="Change how a client authenticates",
        description=(
            "An audited change that ends every live token of the client and retires its old secrets or keys. "
            "Switching to client_secret returns the new secret, shown this once."
        ),
        request=SwitchAuthSerializer,
        responses={200: ClientCreatedSerializer, **errors(404)},
    )
    @action(detail=True, methods=["post"], url_path="switch-auth")
    def switch_auth(self, request: Request, client_id: str) -> Response:
        client = self.get_object()
        body = _body(SwitchAuthSerializer, request)
        new = services.client_switch_auth(client=client, credential=body["credential"], actor=self.actor())
        data = ClientCreatedSerializer(new.client).data
        data["client_secret"] = new.plaintext
        return Response(data, headers={"Cache-Control": "no-store"})

    @extend_schema(
        summary="Revoke all of a client's live tokens",
        request=None,
        responses={200: TokensRevokedSerializer, **errors(404)},
    )
    @action(detail=True, methods=["post"], url_path="revoke-tokens")
    def revoke_tokens(self, request: Request, client_id: str) -> Response:
        revoked = services.client_revoke_tokens(client=self.get_object(), actor=self.actor())
        return Response({"tokens_revoked": revoked})


@extend_schema_view(
    list=extend_schema(
        summary="List scopes", parameters=[PageSerializer], responses={200: ScopeSerializer(many=True), **errors()}
    ),
    retrieve=extend_schema(summary="Show a scope", responses={200: ScopeSerializer, **errors(404)}),
)
class ScopeViewSet(ApiViewSet):
    """The scope catalogue. Reading needs gatehouse:clients:read, changing it gatehouse:clients:write."""

    queryset = Scope.objects.select_related("resource_server")
    serializer_class = ScopeSerializer
    lookup_field = "name"
    lookup_value_regex = "[^\\n]+"  # scope names may contain "/", never a newline

    def list(self, request: Request) -> Response:
        self.filters(PageSerializer)
        return self.page(self.get_queryset(), ScopeSerializer)

    def retrieve(self, request: Request, name: str) -> Response:
        return Response(ScopeSerializer(self.get_object()).data)

    @extend_schema(summary="Create a scope", request=ScopeSerializer, responses={201: ScopeSerializer, **errors()})
    def create(self, request: Request) -> Response:
        fields = _body(ScopeSerializer, request)
        scope = services.scope_create(actor=self.actor(), **fields)
        return Response(ScopeSerializer(scope).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a scope's description, or move it to another resource server",
        request=ScopeUpdateSerializer,
        responses={200: ScopeSerializer, **errors(404)},
    )
    def partial_update(self, request: Request, name: str) -> Response:
        scope = self.get_object()
        fields = _body(ScopeUpdateSerializer, request)
        scope = services.scope_update(scope=scope, actor=self.actor(), **fields)
        return Response(ScopeSerializer(scope).data)

    @extend_schema(
        summary="Change a scope's description, or move it to another resource server",
        request=ScopeUpdateSerializer,
        responses={200: ScopeSerializer, **errors(404)},
    )
    def update(self, request: Request, name: str) -> Response:
        return self.partial_update(request, name)

    @extend_schema(
        summary="Delete a scope",
        description="Refused with 409 scope_in_use while clients hold it; `held_by` lists them.",
        responses={204: None, **errors(404, 409)},
    )
    def destroy(self, request: Request, name: str) -> Response:
        services.scope_delete(scope=self.get_object(), actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        summary="List resource servers",
        parameters=[PageSerializer],
        responses={200: ResourceServerSerializer(many=True), **errors()},
    ),
    retrieve=extend_schema(summary="Show a resource server", responses={200: ResourceServerSerializer, **errors(404)}),
)
class ResourceServerViewSet(ApiViewSet):
    """Resource servers (RFC 8707): reading needs gatehouse:clients:read, changing them
    gatehouse:resource-servers:write. The identifier is the last part of the path (it contains slashes)."""

    queryset = ResourceServer.objects.prefetch_related("scopes", "introspectors")
    serializer_class = ResourceServerSerializer
    lookup_field = "identifier"
    lookup_value_regex = "[^\\n]+"
    write_scope = RESOURCE_SERVERS_WRITE

    def list(self, request: Request) -> Response:
        self.filters(PageSerializer)
        return self.page(self.get_queryset(), ResourceServerSerializer)

    def retrieve(self, request: Request, identifier: str) -> Response:
        return Response(ResourceServerSerializer(self.get_object()).data)

    @extend_schema(
        summary="Register a resource server",
        request=ResourceServerCreateSerializer,
        responses={201: ResourceServerSerializer, **errors()},
    )
    def create(self, request: Request) -> Response:
        fields = _body(ResourceServerCreateSerializer, request)
        created = services.resource_server_create(actor=self.actor(), **fields)
        return Response(ResourceServerSerializer(created).data, status=status.HTTP_201_CREATED)

    def _update(self, request: Request, serializer_class: type[drf_serializers.Serializer]) -> Response:
        resource_server = self.get_object()
        fields = _body(serializer_class, request)
        changed = services.resource_server_update(resource_server=resource_server, actor=self.actor(), **fields)
        return Response(ResourceServerSerializer(changed).data)

    @extend_schema(
        summary="Change some of a resource server's name, description and owner",
        request=ResourceServerPatchSerializer,
        responses={200: ResourceServerSerializer, **errors(404)},
    )
    def partial_update(self, request: Request, identifier: str) -> Response:
        return self._update(request, ResourceServerPatchSerializer)

    @extend_schema(
        summary="Replace a resource server's name, description and owner",
        request=ResourceServerReplaceSerializer,
        responses={200: ResourceServerSerializer, **errors(404)},
    )
    def update(self, request: Request, identifier: str) -> Response:
        return self._update(request, ResourceServerReplaceSerializer)

    @extend_schema(
        summary="Retire a resource server",
        description=(
            "Refused with 409 resource_in_use while clients hold one of its scopes (`held_by` lists them). Once "
            "retired it stays listed (status retired): no token can name it, its scopes cannot be granted."
        ),
        request=None,
        responses={200: ResourceServerSerializer, **errors(404, 409)},
    )
    def destroy(self, request: Request, identifier: str) -> Response:
        retired = services.resource_server_retire(resource_server=self.get_object(), actor=self.actor())
        return Response(ResourceServerSerializer(retired).data)


@extend_schema_view(
    list=extend_schema(
        summary="List audit events, newest first",
        parameters=[AuditFilterSerializer],
        responses={200: AuditEventSerializer(many=True), **errors()},
    ),
)
class AuditEventViewSet(ApiViewSet):
    """The audit trail of changes to clients, secrets and scopes, whoever made them."""

    queryset = AuditEvent.objects.select_related("client")
    serializer_class = AuditEventSerializer
    read_scope = write_scope = AUDIT_READ  # read-only: other methods answer 405 once the token is checked

    def list(self, request: Request) -> Response:
        query = self.filters(AuditFilterSerializer)
        events = self.get_queryset()
        if "client" in query:
            events = events.filter(client__client_id=query["client"])
        for field in ("actor", "actor_type", "action"):
            if field in query:
                events = events.filter(**{field: query[field]})
        if "since" in query:
            events = events.filter(at__gte=query["since"])
        if "until" in query:
            events = events.filter(at__lt=query["until"])
        return self.page(events, AuditEventSerializer)


@extend_schema_view(
    list=extend_schema(
        summary="List trusted issuers",
        parameters=[PageSerializer],
        responses={200: TrustSerializer(many=True), **errors()},
    ),
    retrieve=extend_schema(summary="Show a trust", responses={200: TrustSerializer, **errors(404)}),
)
class TrustViewSet(ApiViewSet):
    """Trusted issuers for federated clients. Reading needs gatehouse:clients:read; registering one needs
    gatehouse:admin (the service refuses others), since the issuer's key then acts as every bound client."""

    queryset = Trust.objects.all()
    serializer_class = TrustSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    def list(self, request: Request) -> Response:
        self.filters(PageSerializer)
        return self.page(self.get_queryset(), TrustSerializer)

    def retrieve(self, request: Request, name: str) -> Response:
        return Response(TrustSerializer(self.get_object()).data)

    @extend_schema(
        summary="Register a trusted issuer", request=TrustSerializer, responses={201: TrustSerializer, **errors()}
    )
    def create(self, request: Request) -> Response:
        fields = _body(TrustSerializer, request)
        fields["keys"] = fields.pop("jwks", None)
        trust = services.trust_create(actor=self.actor(), **fields)
        return Response(TrustSerializer(trust).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Disable a trust",
        description="Its tokens are refused from now on and the live tokens of every client bound to it end.",
        request=None,
        responses={200: TokensRevokedSerializer, **errors(404)},
    )
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, name: str) -> Response:
        revoked = services.trust_set_active(trust=self.get_object(), active=False, actor=self.actor())
        return Response({"tokens_revoked": revoked})

    @extend_schema(summary="Enable a trust", request=None, responses={200: TokensRevokedSerializer, **errors(404)})
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, name: str) -> Response:
        return Response(
            {"tokens_revoked": services.trust_set_active(trust=self.get_object(), active=True, actor=self.actor())}
        )

    @extend_schema(
        summary="Fetch a trust's keys now and show their ids",
        description="The test button: fetches the issuer's JWKS (or discovery, then the JWKS) as Gatehouse would.",
        request=None,
        responses={200: TrustKeysSerializer, **errors(404)},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, name: str) -> Response:
        trust = self.get_object()
        try:
            keys = services.trust_keys(trust)
        except jwks.JWKSError as error:
            raise drf_serializers.ValidationError({"keys": [str(error)]}) from None
        return Response({"name": trust.name, "kids": [k.kid for k in keys]})
