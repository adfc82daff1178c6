"""GET /.well-known/oauth-authorization-server (RFC 8414)."""

import pytest
from django.test import override_settings

from tests.factories import ScopeFactory

pytestmark = pytest.mark.django_db


def test_metadata_lists_endpoints_grants_methods_and_scopes(client):
    ScopeFactory(name="orders.read")
    ScopeFactory(name="orders.write")
    body = client.get("/.well-known/oauth-authorization-server").json()
    methods = ["client_secret_basic", "client_secret_post"]
    assert body["issuer"] == "http://testserver"
    assert body["token_endpoint"] == "http://testserver/oauth/token"
    assert body["introspection_endpoint"] == "http://testserver/oauth/introspect"
    assert body["revocation_endpoint"] == "http://testserver/oauth/revoke"
    assert body["grant_types_supported"] == ["client_credentials"]
    assert body["token_endpoint_auth_methods_supported"] == methods
    assert body["introspection_endpoint_auth_methods_supported"] == methods
    assert body["revocation_endpoint_auth_methods_supported"] == methods
    # the management API's gatehouse:* scopes come from a migration and are requested like any other
    assert body["scopes_supported"] == [
        "gatehouse:admin",
        "gatehouse:audit:read",
        "gatehouse:clients:read",
        "gatehouse:clients:write",
        "gatehouse:resource-servers:write",
        "orders.read",
        "orders.write",
    ]


@override_settings(GATEHOUSE_ISSUER="https://auth.example.com")
def test_configured_issuer_is_used_for_every_url(client):
    body = client.get("/.well-known/oauth-authorization-server").json()
    assert body["issuer"] == "https://auth.example.com"
    assert body["token_endpoint"] == "https://auth.example.com/oauth/token"


def test_issuer_follows_the_request_host(client):
    body = client.get("/.well-known/oauth-authorization-server", HTTP_HOST="localhost").json()
    assert body["issuer"] == "http://localhost"
