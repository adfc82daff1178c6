"""GET /.well-known/oauth-authorization-server (RFC 8414)."""

import pytest
from django.test import override_settings

from tests.factories import ScopeFactory

pytestmark = pytest.mark.django_db


def test_metadata_lists_endpoints_grants_methods_and_scopes(client):
    ScopeFactory(name="orders.read")
    ScopeFactory(name="orders.write")
    body = client.get("/.well-known/oauth-authorization-server").json()
    methods = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    assert body["issuer"] == "http://127.0.0.1:8000"
    assert body["token_endpoint"] == "http://127.0.0.1:8000/oauth/token"
    assert body["introspection_endpoint"] == "http://127.0.0.1:8000/oauth/introspect"
    assert body["revocation_endpoint"] == "http://127.0.0.1:8000/oauth/revoke"
    assert body["grant_types_supported"] == ["client_credentials"]
    assert body["token_endpoint_auth_methods_supported"] == methods
    assert body["introspection_endpoint_auth_methods_supported"] == methods
    assert body["revocation_endpoint_auth_methods_supported"] == methods
    for endpoint in ("token", "introspection", "revocation"):
        assert body[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] == ["RS256", "PS256", "ES256", "EdDSA"]
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


@pytest.mark.parametrize("host", ["localhost:1337", "127.0.0.1", "[::1]:8443"])
def test_metadata_never_echoes_the_host_header(client, settings, host):
    """Finding 5: with GATEHOUSE_ISSUER unset the issuer followed Host, in a response served Cache-Control: public."""
    settings.ALLOWED_HOSTS = ["*"]
    body = client.get("/.well-known/oauth-authorization-server", HTTP_HOST=host).json()
    assert body["issuer"] == "http://127.0.0.1:8000"  # the local default while debugging
    assert body["token_endpoint"] == "http://127.0.0.1:8000/oauth/token"


def test_metadata_with_resource_servers_stays_valid_rfc8414(client):
    """Resource servers add nothing RFC 8414 lacks a field for: their scopes are listed like any other, and the
    `resource` token parameter (RFC 8707) is documented in /oauth/openapi.json and docs/resource-servers.md."""
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

    from tests.factories import ResourceServerFactory

    orders = ResourceServerFactory(identifier="https://orders.example.com")
    ScopeFactory(name="orders.read", resource_server=orders)
    ScopeFactory(name="profile")
    body = client.get("/.well-known/oauth-authorization-server").json()
    metadata = AuthorizationServerMetadata(body)
    # Every field check of Authlib's RFC 8414 model but one: Authlib wants response_types_supported non-empty, and
    # Gatehouse (client credentials only, no authorization endpoint) lists none (a question of its own, left alone).
    for name in dir(metadata):
        if name.startswith("validate_") and name != "validate_response_types_supported":
            getattr(metadata, name)()
    assert {"orders.read", "profile"} <= set(body["scopes_supported"])
    assert not any("resource" in key for key in body)
