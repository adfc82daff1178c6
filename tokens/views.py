"""The OAuth endpoints: token (RFC 6749 4.4), introspection (RFC 7662), revocation (RFC 7009), metadata (RFC 8414).

The views stay thin: parsing and client authentication live in tokens.oauth, the database work in one
statement per request on AccessToken's manager, and every error is an OAuthError rendered by one handler.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from datetime import datetime
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from rest_framework import exceptions as drf_exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from clients.models import Authentication, Client, Scope, is_resource_identifier
from tokens import assertions, replicas, signals, throttle
from tokens.assertions import AssertionRefused, VerifiedAssertion
from tokens.exceptions import (
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    MethodNotAllowed,
    OAuthError,
    SlowDown,
    TemporarilyUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from tokens.models import AccessToken, IssuedToken
from tokens.oauth import ClientCredentials, Form, basic_challenge, client_credentials, issuer, parse_form
from tokens.openapi import OAuthSchema
from tokens.outcome import Outcome, loggable_client_id

log = logging.getLogger("gatehouse.oauth")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_TOKEN = 512
MAX_SCOPE = 4096
INACTIVE = b'{"active": false}'
RETRY_AFTER_SECONDS = 1


def oauth_response(
    body: dict[str, Any] | bytes, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = HttpResponse(content, status=status, content_type="application/json")
    for name, value in NO_STORE.items():
        response[name] = value
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class _JSONOnly(BaseContentNegotiation):
    """OAuth endpoints answer JSON whatever the Accept header says."""

    def select_parser(self, request, parsers):  # type: ignore[no-untyped-def]
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):  # type: ignore[no-untyped-def]
        return renderers[0], renderers[0].media_type


def assertion_failed(refused: AssertionRefused) -> InvalidClient:
    return InvalidClient("client authentication failed", reason=refused.reason, client_id=refused.client_id)


class OAuthView(APIView):
    """Base for the POST-only OAuth endpoints: no DRF auth or throttles, RFC-shaped errors from one place."""

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    parser_classes = ()
    renderer_classes = (JSONRenderer,)
    content_negotiation_class = _JSONOnly
    http_method_names = ["post"]
    endpoint = ""
    url_name = ""
    schema = OAuthSchema()

    def dispatch(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.outcome = request.oauth = Outcome(self.endpoint)
        return super().dispatch(request, *args, **kwargs)

    def credentials(self, request: HttpRequest, form: Form) -> ClientCredentials:
        creds = client_credentials(request, form)
        self.outcome.client_id = creds.client_id
        return creds

    def authenticate_assertion(self, creds: ClientCredentials, now: datetime) -> VerifiedAssertion:
        """Verify a client assertion (tokens.assertions); a refusal is the usual invalid_client, its reason logged.

        `aud` may be Gatehouse's issuer or this endpoint's URL (RFC 7523 section 3, RFC 8414's issuer).
        """
        base = issuer()
        try:
            verified = assertions.verify(
                creds.assertion,
                client_id=creds.client_id,
                audiences=[base, base + reverse(self.url_name)],
                now=now,
            )
        except AssertionRefused as refused:
            raise assertion_failed(refused) from None
        self.outcome.client_id = verified.client_id
        return verified

    def use_assertion(self, verified: VerifiedAssertion) -> None:
        """For introspection and revocation: record the assertion's jti (a replay is refused)."""
        try:
            AccessToken.objects.use_jti(verified)
        except AssertionRefused as refused:
            raise assertion_failed(refused) from None

    def succeeded(self, result: str) -> None:
        self.outcome.authenticated = True
        self.outcome.result = result

    def post(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        django_request: HttpRequest = request._request
        self.address = self.outcome.address = throttle.client_address(django_request)
        form = parse_form(django_request)
        reused = connection.connection is not None
        try:
            return self.serve(django_request, form)
        except (OperationalError, InterfaceError):
            if not reused or connection.in_atomic_block:
                raise
            # A kept-alive connection can be dead after a database restart or failover, and only the first
            # statement finds out: drop it and serve the request once more on a fresh connection. This covers
            # everything that touches the database, the throttle's counters included. A failure there is a 503.
            # At worst a token was stored but its response lost; it is never returned.
            connection.close()
            return self.serve(django_request, form)

    def serve(self, request: HttpRequest, form: Form) -> HttpResponse:
        """handle(); a failed client authentication is counted by the throttle before it is answered.

        The success path does no throttle work at all: a valid credential is never refused (tokens.throttle).
        """
        try:
            return self.handle(request, form)
        except InvalidClient as refused:
            raise self.client_authentication_failed(refused) from None

    def handle(self, request: HttpRequest, form: Form) -> HttpResponse:
        raise NotImplementedError

    def http_method_not_allowed(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise MethodNotAllowed(f"{request.method} is not allowed here; use POST", headers={"Allow": "POST"})

    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]  # DRF accepts any HttpResponse
        if isinstance(exc, OAuthError):
            self.outcome.result = exc.error
            self.outcome.reason = getattr(exc, "reason", "") or self.outcome.reason
            return oauth_response({"error": exc.error, "error_description": exc.description}, exc.status, exc.headers)
        if isinstance(exc, OperationalError | InterfaceError) or type(exc) is DatabaseError:
            log.warning("database unavailable at %s: %s: %s", self.endpoint, type(exc).__name__, _first_line(exc))
            return self.handle_exception(
                TemporarilyUnavailable(
                    "the service is temporarily unavailable; retry shortly",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            )
        if isinstance(exc, drf_exceptions.APIException):
            self.outcome.result = "invalid_request"
            return oauth_response({"error": "invalid_request", "error_description": str(exc.detail)}, exc.status_code)
        raise exc

    def authentication_failed(
        self, creds: ClientCredentials, request: HttpRequest, auth: Authentication | None = None
    ) -> InvalidClient:
        """Find out why authentication failed and build the error the client sees (logged when it is raised)."""
        auth = auth or Client.objects.authenticate(creds.client_id, creds.secret, now=timezone.now())
        return InvalidClient(
            "client authentication failed",
            headers=basic_challenge("client authentication failed") if creds.basic else None,
            reason=auth.failure or "changed during the request",
            client_id=creds.client_id,
        )

    def client_authentication_failed(self, exc: InvalidClient) -> OAuthError:
        """Count, log and signal one failed client authentication (never the presented secret); the error to
        answer: the 401, or 429 slow_down once the throttle says this kind of failure is over its limit."""
        address = getattr(self, "address", "")
        client_id = loggable_client_id(exc.client_id)
        verdict = throttle.record_failure(address=address, client_id=exc.client_id, reason=exc.reason)
        self.outcome.reason = exc.reason
        self.outcome.quiet = verdict.quiet
        if not verdict.quiet:
            log.warning(
                "client authentication failed endpoint=%s client_id=%s address=%s reason=%s",
                self.endpoint,
                client_id,
                address,
                exc.reason,
            )
        signals.auth_failed.send(
            type(self), endpoint=self.endpoint, client_id=client_id, address=address, reason=exc.reason
        )
        if verdict.retry_after is None:
            return exc
        return SlowDown(
            "too many failed client authentications; retry later",
            headers={"Retry-After": str(verdict.retry_after)},
        )


def _first_line(exc: Exception) -> str:
    """A database error's own message (the driver's: no query parameters), on one short line."""
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _requested_resources(form: Form) -> list[str] | None:
    """RFC 8707 `resource` values (repeatable), or None when there is none; each an absolute URI, no fragment."""
    values = form.getlist("resource")
    if not values:
        return None
    for value in values:
        if not is_resource_identifier(value):
            raise InvalidTarget("resource must be an absolute URI without a fragment, naming a resource server")
    return list(dict.fromkeys(values))


def _requested_scopes(form: Form) -> list[str] | None:
    if "scope" not in form:
        return None
    raw = form["scope"]
    if len(raw) > MAX_SCOPE:
        raise InvalidScope("the requested scope is too long")
    names = list(dict.fromkeys(raw.split(" ")))  # dedupe, keep order
    if not raw or "" in names:
        raise InvalidScope("scope must be scope names separated by single spaces")
    return names


class TokenView(OAuthView):
    """POST /oauth/token: the client credentials grant."""

    endpoint = "token"
    url_name = "oauth-token"

    def handle(self, request: HttpRequest, form: Form) -> HttpResponse:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is required")
        creds = self.credentials(request, form)
        if grant_type != "client_credentials":
            raise UnsupportedGrantType("only the client_credentials grant is supported")
        scopes = _requested_scopes(form)
        resources = _requested_resources(form)
        now = timezone.now()
        if creds.assertion:
            return self.issue_for_assertion(creds, scopes, resources, now)
        issued = AccessToken.objects.issue(
            client_id=creds.client_id,
            secret=creds.secret,
            scopes=scopes,
            resources=resources,
            now=now,
            address=_ip_or_none(self.address),
        )
        if issued is None:
            auth = Client.objects.authenticate(creds.client_id, creds.secret, now=now)
            if auth.ok and auth.client_pk is not None and (scopes is not None or resources is not None):
                self.outcome.authenticated = True
                self.refuse_grant(auth.client_pk, scopes, resources)
            raise self.authentication_failed(creds, request, auth)
        return self.token_response(issued)

    def refuse_grant(self, client_pk: int, scopes: list[str] | None, resources: list[str] | None) -> None:
        """Why an authenticated client got no token: a resource it may not target, else a scope it may not get."""
        if resources is not None:
            unusable = Client.objects.unusable_resources(client_pk, resources)
            if unusable:
                raise InvalidTarget("not a resource server this client may get a token for: " + " ".join(unusable))
        if scopes is not None:
            raise InvalidScope("the client may not receive the requested scope")

    def token_response(self, issued: IssuedToken) -> HttpResponse:
        self.succeeded("issued")
        return oauth_response(
            {
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            }
        )

    def issue_for_assertion(
        self, creds: ClientCredentials, scopes: list[str] | None, resources: list[str] | None, now: datetime
    ) -> HttpResponse:
        verified = self.authenticate_assertion(creds, now)
        try:
            issued = AccessToken.objects.issue_for_assertion(
                verified=verified, scopes=scopes, resources=resources, now=now, address=_ip_or_none(self.address)
            )
        except AssertionRefused as refused:
            raise assertion_failed(refused) from None
        if issued is None:
            if (scopes is not None or resources is not None) and assertions.still_authenticates(verified):
                self.outcome.authenticated = True
                self.refuse_grant(verified.client_pk, scopes, resources)
            raise InvalidClient(
                "client authentication failed", reason="changed during the request", client_id=verified.client_id
            )
        return self.token_response(issued)


class IntrospectionView(OAuthView):
    """POST /oauth/introspect: resource servers ask whether a token is live and what it allows."""

    endpoint = "introspect"
    url_name = "oauth-introspect"

    def handle(self, request: HttpRequest, form: Form) -> HttpResponse:
        creds = self.credentials(request, form)
        token = form.get("token")
        if not token:
            raise InvalidRequest("token is required")
        if len(token) > MAX_TOKEN:
            token = ""  # cannot be ours: still authenticate the caller, then answer inactive
        now = timezone.now()
        if creds.assertion:
            verified = self.authenticate_assertion(creds, now)
            self.use_assertion(verified)
            result = AccessToken.objects.introspect_for(caller_pk=verified.client_pk, token=token, now=now)
            if not result.caller_authenticated:
                raise InvalidClient(
                    "client authentication failed", reason="changed during the request", client_id=verified.client_id
                )
        else:
            result = AccessToken.objects.introspect(
                caller_id=creds.client_id, caller_secret=creds.secret, token=token, now=now
            )
        if not result.caller_authenticated:
            raise self.authentication_failed(creds, request)
        self.outcome.authenticated = True
        if not result.caller_may_introspect:
            raise UnauthorizedClient("this client may not introspect tokens")
        if result.token is None:
            self.succeeded("inactive")
            return oauth_response(INACTIVE)
        info = result.token
        self.succeeded("active")
        body: dict[str, Any] = {
            "active": True,
            "client_id": info.client_id,
            "scope": info.scope,
            "token_type": "Bearer",
            "exp": info.expires_at,
            "iat": info.issued_at,
            "iss": issuer(),
            "sub": info.client_id,
        }
        # RFC 7662 `aud`: the calling resource server's identifier; for a global introspector, the list of every
        # resource server the token is for (left out when it is for none: a token of global scopes only).
        if not info.global_view:
            body["aud"] = info.audience[0]
        elif info.audience:
            body["aud"] = list(info.audience)
        return oauth_response(body)


class RevocationView(OAuthView):
    """POST /oauth/revoke: a client revokes one of its own tokens (RFC 7009)."""

    endpoint = "revoke"
    url_name = "oauth-revoke"

    def handle(self, request: HttpRequest, form: Form) -> HttpResponse:
        creds = self.credentials(request, form)
        token = form.get("token")
        if not token:
            raise InvalidRequest("token is required")
        now = timezone.now()
        if creds.assertion:
            verified = self.authenticate_assertion(creds, now)
            self.use_assertion(verified)
            client_pk = verified.client_pk
        else:
            auth = Client.objects.authenticate(creds.client_id, creds.secret, now=now)
            if auth.client_pk is None:
                raise self.authentication_failed(creds, request, auth)
            client_pk = auth.client_pk
        if len(token) <= MAX_TOKEN and AccessToken.objects.revoke(client_pk=client_pk, token=token, now=now):
            replicas.after_commit()  # answer once no replica in use can call the token active
        self.succeeded("revoked")
        return oauth_response(b"{}")


AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
# The algorithms a client assertion may be signed with (RFC 8414 *_auth_signing_alg_values_supported).
SIGNING_ALGS = ["RS256", "PS256", "ES256", "EdDSA"]


class MetadataView(APIView):
    """GET /.well-known/oauth-authorization-server (RFC 8414)."""

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    renderer_classes = (JSONRenderer,)
    content_negotiation_class = _JSONOnly
    schema = OAuthSchema()

    def get(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        base = issuer()
        body = {
            "issuer": base,
            "token_endpoint": base + reverse("oauth-token"),
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
            "introspection_endpoint": base + reverse("oauth-introspect"),
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
            "revocation_endpoint": base + reverse("oauth-revoke"),
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "scopes_supported": list(Scope.objects.values_list("name", flat=True)),
        }
        response = HttpResponse(json.dumps(body), content_type="application/json")
        response["Cache-Control"] = "public, max-age=60"
        return response

    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]  # DRF accepts any HttpResponse
        if isinstance(exc, OperationalError | InterfaceError):
            log.warning("database unavailable at metadata: %s: %s", type(exc).__name__, _first_line(exc))
            return oauth_response(
                {"error": "temporarily_unavailable", "error_description": "the service is temporarily unavailable"},
                503,
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return super().handle_exception(exc)


def _ip_or_none(address: str) -> str | None:
    """The address to keep on a token: an IP address, or None (a Unix socket has none; the column is inet)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
