"""Real OAuth client libraries against a live Gatehouse: requests-oauthlib, Authlib and a DOT resource server."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from tests.factories import ClientFactory, wrong_secret

PEERS = Path(__file__).resolve().parent / "peers"


@pytest.fixture(autouse=True)
def loopback_http(monkeypatch):
    """oauthlib refuses plain HTTP; the live test server is on loopback."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def issuer(live_server, settings):
    """The live server's URL is the issuer (GATEHOUSE_ISSUER never comes from the Host header)."""
    settings.GATEHOUSE_ISSUER = live_server.url
    return live_server.url


@pytest.fixture
def metadata(live_server, issuer):
    response = requests.get(f"{live_server.url}/.well-known/oauth-authorization-server", timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def service(transactional_db):
    return ClientFactory(name="billing-job", scopes=["orders.read", "orders.write"])


@pytest.fixture
def resource_server(transactional_db):
    return ClientFactory(name="orders-api", can_introspect=True)


def introspect(metadata, resource_server, token):
    return requests.post(
        metadata["introspection_endpoint"],
        data={"token": token},
        auth=(resource_server.client_id, resource_server.secret),
        timeout=10,
    ).json()


def test_requests_oauthlib_backend_application_client(metadata, service, resource_server):
    session = OAuth2Session(client=BackendApplicationClient(client_id=service.client_id))
    token = session.fetch_token(
        token_url=metadata["token_endpoint"], client_id=service.client_id, client_secret=service.secret, timeout=10
    )
    assert token["token_type"] == "Bearer"
    assert token["scope"] == ["orders.read", "orders.write"]
    assert introspect(metadata, resource_server, token["access_token"])["active"] is True


def test_requests_oauthlib_with_scope(metadata, service):
    session = OAuth2Session(client=BackendApplicationClient(client_id=service.client_id, scope=["orders.read"]))
    token = session.fetch_token(
        token_url=metadata["token_endpoint"],
        client_id=service.client_id,
        client_secret=service.secret,
        include_client_id=True,  # client_secret_post
        timeout=10,
    )
    assert token["scope"] == ["orders.read"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_fetch_introspect_revoke(metadata, service, resource_server, method):
    client = AuthlibSession(service.client_id, service.secret, token_endpoint_auth_method=method, scope="orders.read")
    token = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["scope"] == "orders.read"
    assert token["expires_in"] == 3600

    rs = AuthlibSession(resource_server.client_id, resource_server.secret, token_endpoint_auth_method=method)
    claims = rs.introspect_token(metadata["introspection_endpoint"], token=token["access_token"]).json()
    assert claims["active"] is True and claims["client_id"] == service.client_id and claims["scope"] == "orders.read"

    revoked = client.revoke_token(
        metadata["revocation_endpoint"], token=token["access_token"], token_type_hint="access_token"
    )
    assert revoked.status_code == 200
    assert rs.introspect_token(metadata["introspection_endpoint"], token=token["access_token"]).json() == {
        "active": False
    }


def test_authlib_wrong_secret_gets_invalid_client(metadata, service):
    client = AuthlibSession(service.client_id, wrong_secret(), token_endpoint_auth_method="client_secret_basic")
    with pytest.raises(Exception, match="invalid_client"):
        client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")


def test_django_oauth_toolkit_resource_server_accepts_gatehouse_tokens(metadata, service, resource_server):
    """A DOT resource server (RESOURCE_SERVER_INTROSPECTION_URL) protects a view with Gatehouse tokens."""

    def token(scope):
        return requests.post(
            metadata["token_endpoint"],
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(service.client_id, service.secret),
            timeout=10,
        ).json()["access_token"]

    read, write = token("orders.read"), token("orders.write")
    revoked = token("orders.read")
    requests.post(
        metadata["revocation_endpoint"], data={"token": revoked}, auth=(service.client_id, service.secret), timeout=10
    )
    done = subprocess.run(
        [
            sys.executable,
            str(PEERS / "dot_resource_server.py"),
            metadata["introspection_endpoint"],
            resource_server.client_id,
            resource_server.secret,
            "orders.read",
            read,
            write,
            revoked,
            "gth_at_madeup",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"statuses": [200, 403, 403, 403]}


NODE_PEERS = PEERS / "node"


@pytest.mark.skipif(
    not os.environ.get("GATEHOUSE_REQUIRE_NODE")
    and not (shutil.which("node") and (NODE_PEERS / "node_modules").exists()),
    reason="node and `npm ci --prefix tests/peers/node` are needed (make setup does it when npm is present)",
)
def test_oauth4webapi_and_openid_client_discover_and_use_gatehouse(live_server, issuer, service, resource_server):
    """RFC 8414 discovery as third-party libraries do it, then the grant, introspection and revocation."""
    done = subprocess.run(
        [
            "node",
            str(NODE_PEERS / "discover.mjs"),
            live_server.url,
            service.client_id,
            service.secret,
            resource_server.client_id,
            resource_server.secret,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["oauth4webapi"] == {"issuer": live_server.url, "token_endpoint": f"{live_server.url}/oauth/token"}
    assert seen["grant"] == {"token_type": "bearer", "scope": "orders.read", "expires_in": 3600}
    assert seen["introspection"] == {"active": True, "client_id": service.client_id, "scope": "orders.read"}
    assert seen["after_revocation"] is False
    # Finding 7: both libraries read a 401's error from its WWW-Authenticate challenge, which had none.
    wrong_secret = {
        "name": "WWWAuthenticateChallengeError",
        "status": 401,
        "error": "invalid_client",
        "error_description": "client authentication failed",
    }
    assert seen["openid_client_wrong_secret"] == wrong_secret
    assert seen["oauth4webapi_wrong_secret"] == wrong_secret
