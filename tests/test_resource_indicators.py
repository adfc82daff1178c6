"""RFC 8707 resource indicators at the token endpoint, and introspection by a client acting for one resource server.

The world: two resource servers (orders, billing), a global scope (profile), a client `shop` holding scopes of
both and the global one, an introspector for each resource server and a global one (a gateway).
"""

from datetime import timedelta

import pytest

from clients.models import Scope
from clients.services import (
    Actor,
    client_disable,
    client_rotate_secret,
    client_update,
    resource_server_retire,
    secret_retire,
)
from tests.factories import ClientFactory, ResourceServerFactory, ScopeFactory
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db

ORDERS = "https://orders.example.com"
BILLING = "https://billing.example.com"


class World:
    def __init__(self) -> None:
        self.orders = ResourceServerFactory(identifier=ORDERS, name="Orders")
        self.billing = ResourceServerFactory(identifier=BILLING, name="Billing")
        ScopeFactory(name="orders.read", resource_server=self.orders)
        ScopeFactory(name="orders.write", resource_server=self.orders)
        ScopeFactory(name="billing.read", resource_server=self.billing)
        ScopeFactory(name="profile")
        self.shop = ClientFactory(name="shop", scopes=["orders.read", "orders.write", "billing.read", "profile"])
        self.orders_rs = ClientFactory(name="orders-api", can_introspect=True, resource_server=self.orders)
        self.billing_rs = ClientFactory(name="billing-api", can_introspect=True, resource_server=self.billing)
        self.gateway = ClientFactory(name="gateway", can_introspect=True)


@pytest.fixture
def world(db) -> World:
    return World()


def mint(oauth, client, *resources, **form):
    """A token request with `resource` repeated (the test client's urlencode takes a list of pairs)."""
    from urllib.parse import urlencode

    pairs = [("grant_type", "client_credentials"), *((k, v) for k, v in form.items())]
    pairs += [("resource", r) for r in resources]
    return oauth.post("/oauth/token", urlencode(pairs), auth=(client.client_id, client.secret))


def token_for(oauth, client, *resources, **form) -> str:
    response = mint(oauth, client, *resources, **form)
    assert response.status_code == 200, response.json()
    return response.json()["access_token"]


def seen_by(oauth, introspector, token: str) -> dict:
    response = oauth.introspect(introspector, token)
    assert response.status_code == 200
    return response.json()


# The token endpoint


def test_resource_limits_the_grant_to_that_resource_server_and_global_scopes(oauth, world):
    response = mint(oauth, world.shop, ORDERS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # RFC 8707 adds no field
    assert body["scope"] == "orders.read orders.write profile"
    row = AccessToken.objects.get()
    assert row.audience == ORDERS


def test_resource_can_be_repeated_and_the_audience_is_every_one_named(oauth, world):
    response = mint(oauth, world.shop, ORDERS, BILLING, ORDERS)
    assert response.status_code == 200
    assert response.json()["scope"] == "billing.read orders.read orders.write profile"
    assert AccessToken.objects.get().audience == f"{BILLING} {ORDERS}"


def test_requested_scopes_with_a_resource_are_granted_exactly(oauth, world):
    response = mint(oauth, world.shop, ORDERS, scope="profile orders.read")
    assert response.json()["scope"] == "profile orders.read"
    assert AccessToken.objects.get().audience == ORDERS


def test_a_scope_of_a_resource_server_not_named_is_invalid_scope(oauth, world):
    response = mint(oauth, world.shop, ORDERS, scope="orders.read billing.read")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "resource",
    [
        "https://unknown.example.com",  # not registered
        "orders.example.com",  # not an absolute URI
        "/orders",
        "https://orders.example.com#frag",  # RFC 8707: no fragment
        "https://orders.example.com/a b",
        "",
    ],
)
def test_a_resource_that_is_unknown_or_malformed_is_invalid_target(oauth, world, resource):
    response = mint(oauth, world.shop, resource)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    assert not AccessToken.objects.exists()


def test_a_resource_server_the_client_holds_no_scope_of_is_invalid_target(oauth, world):
    reports = ResourceServerFactory(identifier="https://reports.example.com")
    ScopeFactory(name="reports.read", resource_server=reports)
    response = mint(oauth, world.shop, ORDERS, "https://reports.example.com")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_target",
        "error_description": "not a resource server this client may get a token for: https://reports.example.com",
    }


def test_invalid_target_is_answered_only_to_an_authenticated_client(oauth, world):
    world.shop.secret = "gth_cs_" + "0" * 43 + "3Phhow"
    response = mint(oauth, world.shop, "https://unknown.example.com")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_without_resource_the_audience_is_every_resource_server_of_a_granted_scope(oauth, world):
    assert mint(oauth, world.shop).json()["scope"] == "billing.read orders.read orders.write profile"
    assert mint(oauth, world.shop, scope="orders.read profile").json()["scope"] == "orders.read profile"
    assert mint(oauth, world.shop, scope="profile").json()["scope"] == "profile"
    audiences = list(AccessToken.objects.order_by("id").values_list("audience", flat=True))
    assert audiences == [f"{BILLING} {ORDERS}", ORDERS, ""]


def test_other_parameters_still_may_not_repeat(oauth, world):
    from urllib.parse import urlencode

    body = urlencode([("grant_type", "client_credentials"), ("scope", "profile"), ("scope", "orders.read")])
    response = oauth.post("/oauth/token", body, auth=(world.shop.client_id, world.shop.secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_token_request_with_resources_is_one_statement(oauth, world, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert mint(oauth, world.shop, ORDERS, BILLING, scope="orders.read billing.read").status_code == 200
    with django_assert_num_queries(1):
        assert mint(oauth, world.shop).status_code == 200


# Introspection by a client acting for one resource server


def test_a_token_for_billing_replayed_at_orders_is_inactive_there(oauth, world):
    billing_token = token_for(oauth, world.shop, BILLING)
    assert seen_by(oauth, world.orders_rs, billing_token) == {"active": False}
    claims = seen_by(oauth, world.billing_rs, billing_token)
    assert claims["active"] is True
    assert claims["aud"] == BILLING
    assert claims["scope"] == "billing.read profile"


def test_each_resource_server_sees_only_its_own_and_global_scopes(oauth, world):
    token = token_for(oauth, world.shop, ORDERS, BILLING)
    at_orders = seen_by(oauth, world.orders_rs, token)
    at_billing = seen_by(oauth, world.billing_rs, token)
    assert (at_orders["aud"], at_orders["scope"]) == (ORDERS, "orders.read orders.write profile")
    assert (at_billing["aud"], at_billing["scope"]) == (BILLING, "billing.read profile")


def test_a_global_introspector_sees_every_scope_and_the_whole_audience(oauth, world):
    token = token_for(oauth, world.shop, ORDERS, BILLING)
    claims = seen_by(oauth, world.gateway, token)
    assert claims["aud"] == [BILLING, ORDERS]
    assert claims["scope"] == "billing.read orders.read orders.write profile"
    assert claims["client_id"] == world.shop.client_id


def test_a_token_of_global_scopes_only_is_for_no_resource_server(oauth, world):
    token = token_for(oauth, world.shop, scope="profile")
    assert seen_by(oauth, world.orders_rs, token) == {"active": False}
    claims = seen_by(oauth, world.gateway, token)
    assert claims["active"] is True and "aud" not in claims


def test_without_resource_each_resource_server_of_a_granted_scope_accepts_the_token(oauth, world):
    token = token_for(oauth, world.shop, scope="orders.read")
    assert seen_by(oauth, world.orders_rs, token)["scope"] == "orders.read"
    assert seen_by(oauth, world.billing_rs, token) == {"active": False}


def test_introspection_for_a_resource_server_is_one_statement(oauth, world, django_assert_num_queries):
    token = token_for(oauth, world.shop, ORDERS)
    with django_assert_num_queries(1):
        assert seen_by(oauth, world.orders_rs, token)["active"] is True
    with django_assert_num_queries(1):
        assert seen_by(oauth, world.billing_rs, token) == {"active": False}
    with django_assert_num_queries(1):
        assert seen_by(oauth, world.gateway, token)["active"] is True


# Every change of the previous issues keeps working per audience


def _disable(world):
    client_disable(client=world.shop, actor=Actor.cli())


def _remove_a_scope(world):
    client_update(client=world.shop, scopes=["orders.read", "orders.write", "profile"], actor=Actor.cli())


def _retire_the_secret(world):
    secret_retire(secret=world.shop.secret_row, actor=Actor.cli())


def _rotate_with_revoke(world):
    client_rotate_secret(client=world.shop, grace=timedelta(hours=1), revoke_tokens=True, actor=Actor.cli())


@pytest.mark.parametrize("change", [_disable, _remove_a_scope, _retire_the_secret, _rotate_with_revoke])
def test_a_change_that_ends_tokens_ends_them_at_every_resource_server(oauth, world, change):
    token = token_for(oauth, world.shop, ORDERS, BILLING)
    assert seen_by(oauth, world.orders_rs, token)["active"] is True
    change(world)
    for introspector in (world.orders_rs, world.billing_rs, world.gateway):
        assert seen_by(oauth, introspector, token) == {"active": False}


def test_a_revoked_token_is_inactive_at_its_resource_server(oauth, world):
    token = token_for(oauth, world.shop, ORDERS)
    oauth.revoke(world.shop, token)
    assert seen_by(oauth, world.orders_rs, token) == {"active": False}


def test_a_retired_resource_server_is_no_target_and_its_introspector_sees_nothing(oauth, world):
    token = token_for(oauth, world.shop, ORDERS)
    client_update(client=world.shop, scopes=["billing.read", "profile"], actor=Actor.cli())  # ends the token
    resource_server_retire(resource_server=world.orders, actor=Actor.cli())
    assert mint(oauth, world.shop, ORDERS).json()["error"] == "invalid_target"
    assert seen_by(oauth, world.orders_rs, token) == {"active": False}
    assert seen_by(oauth, world.orders_rs, token_for(oauth, world.shop)) == {"active": False}
    assert Scope.objects.filter(resource_server=world.orders).count() == 2  # its scopes stay, not grantable
