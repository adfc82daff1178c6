"""The management API's one error shape, produced here for every failure of every /api/v1/ view.

    {"error": "<code>", "error_description": "<text>", "fields": {"<field>": ["<message>", ...]}}

`fields` appears only on validation errors (400 invalid_request). Codes are listed in docs/api.md.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from api.authentication import REALM, InsufficientScope, InvalidToken, MissingToken
from api.services import IdempotencyKeyReused
from clients.services import CallerRevoked, ReservedScope, ScopeInUse, ScopeNotHeld

log = logging.getLogger("gatehouse.api")

# Which request field a service's ValidationError code is about.
_CODE_FIELDS = {"unknown_scope": "scopes", "negative_grace": "grace_seconds", "grace_too_long": "grace_seconds"}
# DRF's exception codes, renamed where ours say more.
_CODES = {"parse_error": "invalid_request", "invalid": "invalid_request", "not_authenticated": "unauthorized"}


def error_body(error: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "error_description": description, **extra}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field" or "field.sub" or "field.0": [messages]}."""
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            fields.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return fields
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        fields = {}
        for index, value in enumerate(detail):
            if value:
                fields.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return fields
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(m) for m in messages]}


def _validation_response(fields: dict[str, list[str]]) -> Response:
    summary = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in fields.items())
    return Response(error_body("invalid_request", f"invalid input: {summary}", fields=fields), status=400)


def _django_validation(exc: DjangoValidationError) -> Response:
    if hasattr(exc, "error_dict"):
        fields = {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    else:
        fields = {}
        for error in exc.error_list:
            field = _CODE_FIELDS.get(error.code or "", "non_field_errors")
            fields.setdefault(field, []).extend(error.messages)
    return _validation_response(fields)


def _bearer_challenge(error: str = "", description: str = "", scope: str = "") -> str:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn any exception raised in an API view into the one error shape; None (a 500) only for real bugs."""
    if isinstance(exc, InvalidToken | CallerRevoked):
        detail = str(exc.detail) if isinstance(exc, InvalidToken) else str(exc)
        response = Response(error_body("invalid_token", detail), status=401)
        response["WWW-Authenticate"] = _bearer_challenge("invalid_token", detail)
        return response
    if isinstance(exc, MissingToken | exceptions.NotAuthenticated):
        response = Response(error_body("unauthorized", str(MissingToken.default_detail)), status=401)
        response["WWW-Authenticate"] = _bearer_challenge()
        return response
    if isinstance(exc, InsufficientScope):
        response = Response(error_body("insufficient_scope", str(exc.detail), scope=exc.scope), status=403)
        response["WWW-Authenticate"] = _bearer_challenge("insufficient_scope", str(exc.detail), exc.scope)
        return response
    if isinstance(exc, ScopeNotHeld):
        return Response(error_body("scope_not_held", str(exc), scopes=exc.missing), status=403)
    if isinstance(exc, ReservedScope):
        return Response(error_body("reserved_scope", str(exc), scope=exc.name), status=403)
    if isinstance(exc, ScopeInUse):
        holders = [{"client_id": c.client_id, "name": c.name} for c in exc.holders]
        return Response(error_body("scope_in_use", exc.messages[0], held_by=holders), status=409)
    if isinstance(exc, IdempotencyKeyReused):
        return Response(error_body("idempotency_key_reused", str(exc)), status=422)
    if isinstance(exc, DjangoValidationError):
        return _django_validation(exc)
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(_flatten(exc.detail))
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", "the request body is too large"), status=413)
    if isinstance(exc, SuspiciousOperation):
        return Response(error_body("invalid_request", "the request could not be processed"), status=400)
    if isinstance(exc, Http404 | ObjectDoesNotExist):  # ObjectDoesNotExist: deleted by a concurrent request
        return Response(error_body("not_found", "no such resource"), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response(error_body("forbidden", str(exc) or "not allowed"), status=403)
    if isinstance(exc, IntegrityError):
        return Response(error_body("conflict", "a concurrent change conflicted with this one; retry"), status=409)
    if isinstance(exc, OperationalError | InterfaceError) or type(exc) is DatabaseError:
        log.warning("database unavailable in the management API: %s", type(exc).__name__)
        response = Response(error_body("temporarily_unavailable", "retry shortly"), status=503)
        response["Retry-After"] = "1"
        return response
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else str(exc.default_code)
        response = Response(error_body(_CODES.get(code, code), str(exc.detail)), status=exc.status_code)
        if isinstance(exc, exceptions.MethodNotAllowed):
            response["Allow"] = ", ".join(context["view"].allowed_methods)
        wait = getattr(exc, "wait", None)  # Throttled sets it; the type stubs do not declare it
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            response["Retry-After"] = str(int(wait))
        return response
    return None
