"""Helpers for the management API tests: a calling client with a live token, and JSON requests made with it."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client as HttpClient

from clients.models import ADMIN_SCOPE as ADMIN
from clients.models import AUDIT_READ as AUDIT
from clients.models import CLIENTS_READ as READ
from clients.models import CLIENTS_WRITE as WRITE
from clients.models import RESOURCE_SERVERS_WRITE as RESOURCE_SERVERS
from clients.models import Client
from tests.factories import AccessTokenFactory, ClientFactory

__all__ = ["ADMIN", "AUDIT", "READ", "RESOURCE_SERVERS", "WRITE", "ApiHttp", "assert_error"]
_CALLER_TOKEN = object()


class ApiHttp:
    """Sends JSON to /api/v1/ with `Authorization: Bearer` for the client made by `login`."""

    def __init__(self) -> None:
        self.http = HttpClient()
        self.caller: Client | None = None
        self.token: str | None = None

    def login(self, *scopes: str, **client_fields: Any) -> Client:
        """A calling client holding `scopes` (plus any it is given) and a live token carrying exactly `scopes`."""
        self.caller = ClientFactory(scopes=list(scopes), **client_fields)
        self.token = AccessTokenFactory(client=self.caller, scope=" ".join(sorted(scopes))).plaintext
        return self.caller

    def request(
        self, method: str, path: str, body: Any = None, *, token: Any = _CALLER_TOKEN, raw: str | None = None, **extra
    ):
        token = self.token if token is _CALLER_TOKEN else token
        if token:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        extra.setdefault("content_type", "application/json")
        return self.http.generic(method, path, data, **extra)

    def get(self, path: str, params: dict | None = None, **kwargs):
        if params:
            from urllib.parse import urlencode

            path = f"{path}?{urlencode(params)}"
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs):
        return self.request("PATCH", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs):
        return self.request("PUT", path, body, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)


def assert_error(response, status: int, error: str) -> dict:
    """The API's one error shape, with the given status and code; returns the body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    return body
