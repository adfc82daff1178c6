"""docs/resource-servers.md's worked example (two resource servers, three clients), command by command."""

import json
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.core.management import call_command

from clients.models import Client

pytestmark = pytest.mark.django_db

ORDERS = "https://orders.example.com"
BILLING = "https://billing.example.com"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def client_from(output: str) -> Client:
    data = json.loads(output)
    client = Client.objects.get(client_id=data["client_id"])
    client.secret = data["client_secret"]
    return client


def test_the_worked_example(oauth):
    run("resource", "create", ORDERS, "--name", "Orders", "--owner", "team-orders")
    run("resource", "create", BILLING, "--name", "Billing", "--owner", "team-billing")
    run("scope", "create", "orders.read", "--resource", ORDERS)
    run("scope", "create", "orders.write", "--resource", ORDERS)
    run("scope", "create", "billing.charge", "--resource", BILLING)
    run("scope", "create", "profile", "--description", "Who the caller is (global)")
    checkout = client_from(
        run(
            "client",
            "create",
            "checkout",
            "--scope",
            "orders.write",
            "--scope",
            "billing.charge",
            "--scope",
            "profile",
            "--json",
        )
    )
    orders_api = client_from(run("client", "create", "orders-api", "--introspect", "--resource", ORDERS, "--json"))
    billing_api = client_from(run("client", "create", "billing-api", "--introspect", "--resource", BILLING, "--json"))

    def token(*resources: str, **form: str):
        pairs = [("grant_type", "client_credentials"), *form.items(), *(("resource", r) for r in resources)]
        return oauth.post("/oauth/token", urlencode(pairs), auth=(checkout.client_id, checkout.secret)).json()

    for_billing = token(BILLING)
    assert set(for_billing) == {"access_token", "token_type", "expires_in", "scope"}
    assert for_billing["scope"] == "billing.charge profile"
    at_billing = oauth.introspect(billing_api, for_billing["access_token"]).json()
    assert (at_billing["active"], at_billing["scope"], at_billing["aud"]) == (True, "billing.charge profile", BILLING)
    assert at_billing["client_id"] == checkout.client_id
    assert oauth.introspect(orders_api, for_billing["access_token"]).json() == {"active": False}

    for_both = token(ORDERS, BILLING)["access_token"]
    assert oauth.introspect(orders_api, for_both).json()["scope"] == "orders.write profile"
    assert oauth.introspect(billing_api, for_both).json()["scope"] == "billing.charge profile"
    without_resource = token()["access_token"]
    assert oauth.introspect(orders_api, without_resource).json()["active"] is True
    assert oauth.introspect(billing_api, without_resource).json()["active"] is True

    assert token(ORDERS, scope="billing.charge")["error"] == "invalid_scope"
    assert token("https://reports.example.com")["error"] == "invalid_target"

    listing = json.loads(run("resource", "list", "--json"))["resource_servers"]
    assert [(r["identifier"], r["scopes"], r["introspectors"]) for r in listing] == [
        (BILLING, ["billing.charge"], [billing_api.client_id]),
        (ORDERS, ["orders.read", "orders.write"], [orders_api.client_id]),
    ]


def test_the_migration_path_for_an_existing_global_scope(oauth):
    """Step by step as docs/resource-servers.md says, checking what each step does to tokens and introspectors."""
    run("scope", "create", "orders.read")
    service = client_from(run("client", "create", "shop", "--scope", "orders.read", "--json"))
    old_introspector = client_from(run("client", "create", "orders-api", "--introspect", "--json"))
    before = oauth.token(service).json()["access_token"]
    assert oauth.introspect(old_introspector, before).json()["active"] is True  # nothing broke on upgrade

    run("resource", "create", ORDERS, "--name", "Orders")  # 1
    bound = client_from(run("client", "create", "orders-api-2", "--introspect", "--resource", ORDERS, "--json"))  # 2
    assert oauth.introspect(bound, before).json() == {"active": False}  # not yet: switch after step 3
    run("scope", "update", "orders.read", "--resource", ORDERS)  # 3
    assert oauth.introspect(old_introspector, before).json() == {"active": False}  # the holders' tokens ended
    after = oauth.token(service).json()["access_token"]
    claims = oauth.introspect(bound, after).json()  # 4
    assert (claims["active"], claims["aud"], claims["scope"]) == (True, ORDERS, "orders.read")
    run("scope", "update", "orders.read", "--global")  # undo
    assert oauth.introspect(bound, after).json() == {"active": False}
