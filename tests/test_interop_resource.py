"""RFC 8707 with real OAuth libraries against a live Gatehouse: Authlib and requests-oauthlib sending `resource`,
and a django-oauth-toolkit resource server whose introspecting client speaks for one resource server."""

import json
import os
import subprocess
import sys

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from tests.factories import ClientFactory, ResourceServerFactory, ScopeFactory
from tests.test_interop import PEERS

ORDERS = "https://orders.example.com"
BILLING = "https://billing.example.com"


@pytest.fixture(autouse=True)
def loopback_http(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def endpoints(live_server, settings):
    settings.GATEHOUSE_ISSUER = live_server.url
    return requests.get(f"{live_server.url}/.well-known/oauth-authorization-server", timeout=10).json()


class Apis:
    def __init__(self) -> None:
        orders = ResourceServerFactory(identifier=ORDERS, name="Orders")
        billing = ResourceServerFactory(identifier=BILLING, name="Billing")
        ScopeFactory(name="orders.read", resource_server=orders)
        ScopeFactory(name="billing.read", resource_server=billing)
        ScopeFactory(name="profile")
        self.service = ClientFactory(name="checkout", scopes=["orders.read", "billing.read", "profile"])
        self.orders_rs = ClientFactory(name="orders-api", can_introspect=True, resource_server=orders)
        self.billing_rs = ClientFactory(name="billing-api", can_introspect=True, resource_server=billing)


@pytest.fixture
def apis(transactional_db) -> Apis:
    return Apis()


def introspect(endpoints, introspector, token: str) -> dict:
    return requests.post(
        endpoints["introspection_endpoint"],
        data={"token": token},
        auth=(introspector.client_id, introspector.secret),
        timeout=10,
    ).json()


def test_requests_oauthlib_passes_resource(endpoints, apis):
    session = OAuth2Session(client=BackendApplicationClient(client_id=apis.service.client_id))
    token = session.fetch_token(
        token_url=endpoints["token_endpoint"],
        client_id=apis.service.client_id,
        client_secret=apis.service.secret,
        resource=BILLING,
        timeout=10,
    )
    assert token["scope"] == ["billing.read", "profile"]
    assert introspect(endpoints, apis.billing_rs, token["access_token"])["aud"] == BILLING
    assert introspect(endpoints, apis.orders_rs, token["access_token"]) == {"active": False}


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_passes_resource_and_reads_aud(endpoints, apis, method):
    """Authlib sends one `resource` (its requests client posts the body as a dict, so a repeated one would be
    folded into one: several resources are exercised with plain requests below)."""
    client = AuthlibSession(apis.service.client_id, apis.service.secret, token_endpoint_auth_method=method)
    token = client.fetch_token(endpoints["token_endpoint"], grant_type="client_credentials", resource=ORDERS)
    assert token["scope"] == "orders.read profile"

    rs = AuthlibSession(apis.orders_rs.client_id, apis.orders_rs.secret, token_endpoint_auth_method=method)
    claims = rs.introspect_token(endpoints["introspection_endpoint"], token=token["access_token"]).json()
    assert (claims["active"], claims["aud"], claims["scope"]) == (True, ORDERS, "orders.read profile")
    billing = AuthlibSession(apis.billing_rs.client_id, apis.billing_rs.secret, token_endpoint_auth_method=method)
    assert billing.introspect_token(endpoints["introspection_endpoint"], token=token["access_token"]).json() == {
        "active": False
    }


def test_authlib_reports_invalid_target(endpoints, apis):
    client = AuthlibSession(apis.service.client_id, apis.service.secret)
    with pytest.raises(Exception, match="invalid_target"):
        client.fetch_token(
            endpoints["token_endpoint"], grant_type="client_credentials", resource="https://reports.example.com"
        )


def test_django_oauth_toolkit_resource_server_refuses_a_token_minted_for_another(endpoints, apis):
    """DOT's resource-server mode, introspecting as the orders API's client: a billing token gets 403 there,
    even though the client holds orders.read (the token is not for orders). DOT 3.4 also checks the `aud` it is
    told against the URL it serves (RFC 8707), so it runs at the orders API's identifier; served elsewhere, even
    an orders token is refused: Gatehouse's `aud` is what DOT expects."""

    def token(*resources: str, scope: str = "") -> str:
        data = [("grant_type", "client_credentials"), *(("resource", r) for r in resources)]
        if scope:
            data.append(("scope", scope))
        response = requests.post(
            endpoints["token_endpoint"], data=data, auth=(apis.service.client_id, apis.service.secret), timeout=10
        )
        return response.json()["access_token"]

    for_orders = token(ORDERS)
    for_billing = token(BILLING)
    for_both = token(ORDERS, BILLING)  # `resource` twice
    profile_only = token(scope="profile")  # for no resource server: only global introspectors accept it
    done = subprocess.run(
        [
            sys.executable,
            str(PEERS / "dot_resource_server.py"),
            endpoints["introspection_endpoint"],
            apis.orders_rs.client_id,
            apis.orders_rs.secret,
            "orders.read",
            for_orders,
            for_billing,
            for_both,
            profile_only,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RESOURCE_SERVER_URL": ORDERS},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"statuses": [200, 403, 200, 403]}
