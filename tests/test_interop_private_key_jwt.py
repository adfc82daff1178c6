"""Real client libraries sign the assertions: Authlib's PrivateKeyJWT (Python), and oauth4webapi's and
openid-client's private_key_jwt (node), against a live Gatehouse."""

import json
import os
import shutil
import subprocess
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT

from tests import jose
from tests.factories import KeyClientFactory
from tests.test_interop import NODE_PEERS


@pytest.fixture(autouse=True)
def loopback_http(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def issuer(live_server, settings):
    settings.GATEHOUSE_ISSUER = live_server.url
    return live_server.url


@pytest.fixture
def worker(transactional_db):
    return KeyClientFactory(name="invoice-worker", scopes=["orders.read", "orders.write"])


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's PrivateKeyJWT with a 5-minute exp and a fresh jti per assertion (the recipe in docs/api.md).

    Authlib signs with exp = now + 1 hour unless given claims, and adds its jti INTO the claims dict it was given,
    so a static `claims={...}` would reuse the first jti on every request (a replay, refused).
    """

    def sign(self, auth, token_endpoint):
        self.claims = {"exp": int(time.time()) + 300}
        return super().sign(auth, token_endpoint)


def authlib_session(worker, token_url, method):
    session = OAuth2Session(
        worker.client_id,
        worker.private_key,
        token_endpoint_auth_method=method,
        scope="orders.read",
    )
    session.register_client_auth_method(method)
    return session


def test_authlib_private_key_jwt(issuer, worker):
    token_url = f"{issuer}/oauth/token"
    session = authlib_session(worker, token_url, ShortLivedPrivateKeyJWT(token_url, alg="ES256"))
    first = session.fetch_token(token_url, grant_type="client_credentials")
    second = session.fetch_token(token_url, grant_type="client_credentials")  # a fresh assertion each time
    assert first["scope"] == "orders.read"
    assert first["access_token"] != second["access_token"]


def test_authlib_default_one_hour_assertion_is_refused(issuer, worker):
    token_url = f"{issuer}/oauth/token"
    session = authlib_session(worker, token_url, PrivateKeyJWT(token_url, alg="ES256"))
    with pytest.raises(Exception, match="invalid_client"):
        session.fetch_token(token_url, grant_type="client_credentials")


@pytest.mark.skipif(
    not os.environ.get("GATEHOUSE_REQUIRE_NODE")
    and not (shutil.which("node") and (NODE_PEERS / "node_modules").exists()),
    reason="node and `npm ci --prefix tests/peers/node` are needed (make setup does it when npm is present)",
)
@pytest.mark.slow  # a subprocess
def test_oauth4webapi_and_openid_client_private_key_jwt(live_server, issuer, worker):
    rs = KeyClientFactory(name="orders-api", can_introspect=True, key=jose.ec_key("rs-key"))
    done = subprocess.run(
        [
            "node",
            str(NODE_PEERS / "private_key_jwt.mjs"),
            live_server.url,
            worker.client_id,
            json.dumps(worker.private_key.as_dict(private=True)),
            rs.client_id,
            json.dumps(rs.private_key.as_dict(private=True)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert "private_key_jwt" in seen["metadata_methods"]
    assert seen["oauth4webapi"] == {"token_type": "bearer", "scope": "orders.read"}
    assert seen["openid_client"] == {"token_type": "bearer", "scope": "orders.read", "expires_in": 3600}
    assert seen["introspection"] == {"active": True, "client_id": worker.client_id, "scope": "orders.read"}
    assert seen["after_revocation"] is False
    assert seen["forged"]["status"] == 401


def test_metadata_advertises_private_key_jwt(issuer):
    body = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]
    assert "ES256" in body["token_endpoint_auth_signing_alg_values_supported"]
