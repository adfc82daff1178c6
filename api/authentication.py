"""Who may call the management API: bearer tokens issued by this Gatehouse (RFC 6750), and the scope each view needs.

A missing token answers 401 with a bare `WWW-Authenticate: Bearer` challenge; a token that is malformed,
unknown or not live (expired, revoked, ended by a change to its client, minted by a retired secret, or its client
disabled: tokens.models.LIVE_TOKEN_SQL) answers 401 `invalid_token`; a live token without the
scope a view needs answers 403 `insufficient_scope`. The admin scope satisfies every scope requirement.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from clients.models import ADMIN_SCOPE
from tokens.models import AccessToken, Bearer

REALM = "gatehouse"


@dataclass(frozen=True)
class ApiCaller:
    """request.user for the management API: the client whose token was presented."""

    bearer: Bearer
    is_authenticated = True

    @property
    def client_id(self) -> str:
        return self.bearer.client_id


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "the access token is malformed, unknown, expired or revoked, or its client is disabled"
    default_code = "invalid_token"


class MissingToken(exceptions.NotAuthenticated):
    default_detail = "a bearer token is required: Authorization: Bearer <access token from /oauth/token>"
    default_code = "unauthorized"


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"this request needs a token with the scope {scope}")


class BearerAuthentication(BaseAuthentication):
    """Authorization: Bearer <token>, checked in one SELECT (AccessToken.objects.bearer)."""

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        bearer = AccessToken.objects.bearer(token.strip(), now=timezone.now())
        if bearer is None:
            raise InvalidToken()
        return ApiCaller(bearer), bearer

    def authenticate_header(self, request) -> str:  # type: ignore[no-untyped-def]
        return f'Bearer realm="{REALM}"'


class HasScope(BasePermission):
    """The token must carry the view's `required_scopes[action]` (or the admin scope)."""

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        bearer = request.auth
        if not isinstance(bearer, Bearer):
            raise MissingToken()
        needed = view.required_scope(request)
        if needed not in bearer.scopes and ADMIN_SCOPE not in bearer.scopes:
            raise InsufficientScope(needed)
        return True
