"""The registry's rules for resource servers (clients.services), tried as an attacker would.

Managing a resource server, which scopes belong to it, or the clients that introspect for it needs the privilege
over resource servers (API: gatehouse:resource-servers:write; staff: clients.grant_privileged_access); a global
introspector needs gatehouse:admin. Moving a scope, retiring a resource server and rebinding an introspector
are authority changes: each is in force when it commits.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from clients.models import ADMIN_SCOPE, CLIENTS_WRITE, RESOURCE_SERVERS_WRITE, AuditEvent, ResourceServer, Scope
from clients.services import (
    Actor,
    Caller,
    ResourceInUse,
    ScopeNotHeld,
    client_create,
    client_rotate_secret,
    client_update,
    resource_server_create,
    resource_server_retire,
    resource_server_update,
    scope_create,
    scope_update,
)
from tests.factories import AccessTokenFactory, ClientFactory, ResourceServerFactory
from tests.test_resource_indicators import BILLING, ORDERS, World, seen_by, token_for
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db
CLI = Actor.cli()


@pytest.fixture
def world(db) -> World:
    return World()


def api_actor(*scopes: str) -> Actor:
    """An API caller whose live token carries `scopes`."""
    caller = ClientFactory(scopes=list(scopes))
    token = AccessTokenFactory(client=caller, scope=" ".join(scopes))
    return Actor.api_client(
        caller.client_id, scopes=scopes, caller=Caller(caller.pk, caller.generation, token.secret_id)
    )


def operator_actor() -> Actor:
    from django.contrib.auth.models import Group

    user = User.objects.create_user("olivia", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    return Actor.staff(user)


# Registering and changing resource servers


def test_registering_a_resource_server_is_audited_and_its_identifier_is_an_rfc8707_uri():
    created = resource_server_create(identifier=ORDERS, name="Orders", owner="team-orders", actor=CLI)
    event = AuditEvent.objects.get(action="resource.create")
    assert (event.target, event.changes["owner"]) == (ORDERS, [None, "team-orders"])
    assert created.is_active
    for bad in ("orders", "/orders", "https://orders.example.com#x", "https://o.example.com/a b", "https:// x"):
        with pytest.raises(ValidationError):
            resource_server_create(identifier=bad, name="x", actor=CLI)
    with pytest.raises(ValidationError, match="already exists"):
        resource_server_create(identifier=ORDERS, name="again", actor=CLI)


@pytest.mark.parametrize(
    "actor",
    [lambda: api_actor(CLIENTS_WRITE), operator_actor],
    ids=["writer without resource-servers:write", "operator"],
)
def test_managing_resource_servers_needs_the_privilege(actor):
    who = actor()
    with pytest.raises(ScopeNotHeld):
        resource_server_create(identifier=ORDERS, name="Orders", actor=who)
    orders = ResourceServerFactory(identifier=ORDERS)
    with pytest.raises(ScopeNotHeld):
        resource_server_update(resource_server=orders, name="Mine now", actor=who)
    with pytest.raises(ScopeNotHeld):
        resource_server_retire(resource_server=orders, actor=who)
    with pytest.raises(ScopeNotHeld):
        scope_create(name="orders.sneaky", resource_server=orders, actor=who)
    assert not ResourceServer.objects.filter(retired_at__isnull=False).exists()
    assert ResourceServer.objects.get().name != "Mine now"
    assert not Scope.objects.filter(name="orders.sneaky").exists()


def test_the_resource_servers_scope_manages_resource_servers():
    who = api_actor(CLIENTS_WRITE, RESOURCE_SERVERS_WRITE)
    orders = resource_server_create(identifier=ORDERS, name="Orders", actor=who)
    resource_server_update(resource_server=orders, description="The orders API", actor=who)
    scope = scope_create(name="orders.read", resource_server=orders, actor=who)
    assert scope.resource_server == orders
    assert AuditEvent.objects.filter(action__startswith="resource.").count() == 2


# Introspectors: bound to one resource server, or global


def test_an_introspector_for_a_resource_server_needs_the_resource_servers_scope(world):
    with pytest.raises(ScopeNotHeld, match=RESOURCE_SERVERS_WRITE):
        client_create(name="spy", can_introspect=True, resource_server=world.orders, actor=api_actor(CLIENTS_WRITE))
    made = client_create(
        name="orders-api-2",
        can_introspect=True,
        resource_server=world.orders,
        actor=api_actor(CLIENTS_WRITE, RESOURCE_SERVERS_WRITE),
    )
    assert made.client.resource_server == world.orders


def test_a_global_introspector_is_a_privilege_of_its_own(world):
    """The resource-servers scope does not make a gateway that sees every token at every resource server."""
    writer = api_actor(CLIENTS_WRITE, RESOURCE_SERVERS_WRITE)
    with pytest.raises(ScopeNotHeld, match=ADMIN_SCOPE):
        client_create(name="gateway-2", can_introspect=True, actor=writer)
    with pytest.raises(ScopeNotHeld, match=ADMIN_SCOPE):  # nor rebind one to see everything
        client_update(client=world.orders_rs, resource_server=None, actor=writer)
    with pytest.raises(ScopeNotHeld, match=ADMIN_SCOPE):  # nor manage (here: get the secret of) an existing one
        client_rotate_secret(client=world.gateway, grace=timedelta(0), actor=writer)
    world.orders_rs.refresh_from_db()
    assert world.orders_rs.resource_server == world.orders
    assert client_create(name="gateway-2", can_introspect=True, actor=api_actor(ADMIN_SCOPE)).client.can_introspect


def test_a_writer_cannot_take_over_a_resource_servers_introspector(world):
    writer = api_actor(CLIENTS_WRITE)
    with pytest.raises(ScopeNotHeld, match=RESOURCE_SERVERS_WRITE):
        client_rotate_secret(client=world.orders_rs, grace=timedelta(0), actor=writer)
    with pytest.raises(ScopeNotHeld, match=RESOURCE_SERVERS_WRITE):
        client_update(client=world.orders_rs, resource_server=world.billing, actor=writer)


def test_only_an_introspecting_client_speaks_for_a_resource_server(world):
    with pytest.raises(ValidationError, match="introspect"):
        client_create(name="x", resource_server=world.orders, actor=CLI)
    client_update(client=world.orders_rs, can_introspect=False, actor=CLI)
    world.orders_rs.refresh_from_db()
    assert world.orders_rs.resource_server is None  # taking the privilege away unbinds it


def test_rebinding_an_introspector_is_in_force_at_once(oauth, world):
    orders_token = token_for(oauth, world.shop, ORDERS)
    billing_token = token_for(oauth, world.shop, BILLING)
    assert seen_by(oauth, world.orders_rs, orders_token)["active"] is True
    client_update(client=world.orders_rs, resource_server=world.billing, actor=CLI)
    assert seen_by(oauth, world.orders_rs, orders_token) == {"active": False}
    assert seen_by(oauth, world.orders_rs, billing_token)["aud"] == BILLING
    event = AuditEvent.objects.filter(action="client.update").latest("id")
    assert event.changes["resource"] == [ORDERS, BILLING]


# Moving a scope between resource servers (or to and from global)


def test_moving_a_scope_ends_the_tokens_of_every_client_holding_it(oauth, world):
    """A token minted for orders with orders.read must not show orders.read to billing once it moves there."""
    token = token_for(oauth, world.shop, ORDERS, BILLING)
    other = ClientFactory(scopes=["orders.read"])
    other_token = token_for(oauth, other)
    bystander = ClientFactory(scopes=["billing.read"])
    bystander_token = token_for(oauth, bystander)
    scope_update(scope=Scope.objects.get(name="orders.read"), resource_server=world.billing, actor=CLI)
    for dead in (token, other_token):
        for introspector in (world.orders_rs, world.billing_rs, world.gateway):
            assert seen_by(oauth, introspector, dead) == {"active": False}
    assert seen_by(oauth, world.billing_rs, bystander_token)["active"] is True
    event = AuditEvent.objects.get(action="scope.update")
    assert event.changes["resource"] == [ORDERS, BILLING]
    assert event.changes["tokens_revoked"] == [None, 2]
    fresh = token_for(oauth, world.shop, BILLING)
    assert seen_by(oauth, world.billing_rs, fresh)["scope"] == "billing.read orders.read profile"


def test_giving_a_global_scope_to_a_resource_server_ends_its_holders_tokens(oauth, world):
    """Else a token minted while `profile` was global would keep showing it to every resource server."""
    token = token_for(oauth, world.shop, BILLING)
    assert seen_by(oauth, world.billing_rs, token)["scope"] == "billing.read profile"
    scope_update(scope=Scope.objects.get(name="profile"), resource_server=world.orders, actor=CLI)
    assert seen_by(oauth, world.billing_rs, token) == {"active": False}
    assert seen_by(oauth, world.billing_rs, token_for(oauth, world.shop, BILLING))["scope"] == "billing.read"


def test_changing_only_a_description_ends_no_token(oauth, world):
    token = token_for(oauth, world.shop, ORDERS)
    scope_update(scope=Scope.objects.get(name="orders.read"), description="Read orders", actor=CLI)
    assert seen_by(oauth, world.orders_rs, token)["active"] is True


def test_moving_a_scope_needs_the_privilege_and_the_scope_itself(world):
    scope = Scope.objects.get(name="orders.read")
    with pytest.raises(ScopeNotHeld, match=RESOURCE_SERVERS_WRITE):
        scope_update(scope=scope, resource_server=None, actor=api_actor(CLIENTS_WRITE, "orders.read"))
    with pytest.raises(ScopeNotHeld, match="orders.read"):  # ends other clients' tokens: the grant rule applies
        scope_update(scope=scope, resource_server=None, actor=api_actor(CLIENTS_WRITE, RESOURCE_SERVERS_WRITE))
    with pytest.raises(ScopeNotHeld):
        scope_update(scope=scope, resource_server=None, actor=operator_actor())
    scope.refresh_from_db()
    assert scope.resource_server == world.orders
    scope_update(
        scope=scope, resource_server=None, actor=api_actor(CLIENTS_WRITE, RESOURCE_SERVERS_WRITE, "orders.read")
    )
    scope.refresh_from_db()
    assert scope.resource_server is None


# Retiring a resource server


def test_retiring_a_resource_server_is_refused_while_clients_hold_its_scopes(world):
    with pytest.raises(ResourceInUse) as refused:
        resource_server_retire(resource_server=world.orders, actor=CLI)
    assert [c.name for c in refused.value.holders] == ["shop"]
    world.orders.refresh_from_db()
    assert world.orders.is_active and not AuditEvent.objects.filter(action="resource.retire").exists()


def test_a_retired_resource_servers_scopes_cannot_be_granted_or_added(world):
    client_update(client=world.shop, scopes=["billing.read", "profile"], actor=CLI)
    resource_server_retire(resource_server=world.orders, actor=CLI)
    with pytest.raises(ValidationError, match="retired"):
        client_update(client=world.shop, scopes=["orders.read"], actor=CLI)
    with pytest.raises(ValidationError, match="retired"):
        client_create(name="late", scopes=["orders.write"], actor=CLI)
    with pytest.raises(ValidationError, match="retired"):
        scope_create(name="orders.admin", resource_server=world.orders, actor=CLI)
    with pytest.raises(ValidationError, match="retired"):
        scope_update(scope=Scope.objects.get(name="profile"), resource_server=world.orders, actor=CLI)
    with pytest.raises(ValidationError, match="retired"):
        client_create(name="spy", can_introspect=True, resource_server=world.orders, actor=CLI)
    event = AuditEvent.objects.get(action="resource.retire")
    assert event.changes["introspectors"] == [None, [world.orders_rs.client_id]]
    assert ResourceServer.objects.filter(identifier=ORDERS).exists()  # kept, so the identifier is never reused


def test_no_live_token_names_a_retired_resource_server(oauth, world):
    token = token_for(oauth, world.shop, ORDERS)
    client_update(client=world.shop, scopes=["billing.read", "profile"], actor=CLI)
    resource_server_retire(resource_server=world.orders, actor=CLI)
    live = AccessToken.objects.live(timezone.now())
    assert not [t for t in live if ORDERS in t.audience.split()]
    assert seen_by(oauth, world.gateway, token) == {"active": False}
