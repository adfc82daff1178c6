"""/api/v1/resource-servers/ and the `resource` of scopes: reading needs gatehouse:clients:read, changing them
gatehouse:resource-servers:write (the services apply the grant rule again)."""

import pytest
from django.utils import timezone

from clients.models import AuditEvent, ResourceServer, Scope
from tests.api import ADMIN, READ, RESOURCE_SERVERS, WRITE, assert_error
from tests.factories import AccessTokenFactory, ClientFactory, ResourceServerFactory, ScopeFactory
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db

URL = "/api/v1/resource-servers/"
ORDERS = "https://orders.example.com"


def test_register_show_list_change_and_retire(api):
    api.login(READ, RESOURCE_SERVERS)
    created = api.post(URL, {"identifier": ORDERS, "name": "Orders", "owner": "team-orders"})
    assert created.status_code == 201
    assert created.json() == {
        "identifier": ORDERS,
        "name": "Orders",
        "description": "",
        "owner": "team-orders",
        "status": "active",
        "scopes": [],
        "introspectors": [],
        "created_at": created.json()["created_at"],
        "created_by": api.caller.client_id,
        "updated_at": created.json()["updated_at"],
        "retired_at": None,
    }
    assert api.get(f"{URL}{ORDERS}/").json()["name"] == "Orders"  # the identifier's slashes are fine in the path
    assert [r["identifier"] for r in api.get(URL).json()["results"]] == [ORDERS]
    assert api.patch(f"{URL}{ORDERS}/", {"description": "The orders API"}).json()["description"] == "The orders API"
    assert api.put(f"{URL}{ORDERS}/", {"name": "Orders v2"}).json()["owner"] == ""
    retired = api.delete(f"{URL}{ORDERS}/")
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"resource.create", "resource.update", "resource.retire"} <= actions


def test_the_identifier_never_changes(api):
    ResourceServerFactory(identifier=ORDERS)
    api.login(READ, RESOURCE_SERVERS)
    body = assert_error(api.patch(f"{URL}{ORDERS}/", {"identifier": "https://x.example.com"}), 400, "invalid_request")
    assert body["fields"] == {"identifier": ["unknown field"]}


@pytest.mark.parametrize("identifier", ["orders", "https://orders.example.com#top", "https://o.example.com/a b"])
def test_an_identifier_must_be_an_absolute_uri_without_fragment(api, identifier):
    api.login(READ, RESOURCE_SERVERS)
    body = assert_error(api.post(URL, {"identifier": identifier, "name": "x"}), 400, "invalid_request")
    assert "identifier" in body["fields"]
    assert not ResourceServer.objects.exists()


def test_a_duplicate_identifier_is_refused(api):
    ResourceServerFactory(identifier=ORDERS)
    api.login(READ, RESOURCE_SERVERS)
    assert_error(api.post(URL, {"identifier": ORDERS, "name": "again"}), 400, "invalid_request")


def test_a_writer_without_the_resource_servers_scope_changes_nothing(api):
    ResourceServerFactory(identifier=ORDERS)
    api.login(READ, WRITE)
    assert_error(api.post(URL, {"identifier": "https://b.example.com", "name": "b"}), 403, "insufficient_scope")
    assert_error(api.patch(f"{URL}{ORDERS}/", {"name": "mine"}), 403, "insufficient_scope")
    assert_error(api.delete(f"{URL}{ORDERS}/"), 403, "insufficient_scope")
    assert ResourceServer.objects.get().is_active and ResourceServer.objects.count() == 1


def test_retiring_is_refused_while_clients_hold_its_scopes(api):
    orders = ResourceServerFactory(identifier=ORDERS)
    holder = ClientFactory(name="shop", scopes=[ScopeFactory(name="orders.read", resource_server=orders)])
    api.login(READ, RESOURCE_SERVERS)
    body = assert_error(api.delete(f"{URL}{ORDERS}/"), 409, "resource_in_use")
    assert body["held_by"] == [{"client_id": holder.client_id, "name": "shop"}]
    assert ResourceServer.objects.get().is_active


def test_unknown_resource_server_is_404(api):
    api.login(READ, RESOURCE_SERVERS)
    assert_error(api.get(f"{URL}https://nope.example.com/"), 404, "not_found")


def test_listing_costs_the_same_whatever_the_number(api, django_assert_max_num_queries):
    api.login(READ)
    for n in range(5):
        server = ResourceServerFactory()
        ScopeFactory(name=f"s{n}", resource_server=server)
        ClientFactory(can_introspect=True, resource_server=server)
    with django_assert_max_num_queries(5):  # token, count, page, scopes, introspectors
        assert len(api.get(URL).json()["results"]) == 5


# Scopes gain `resource`


def test_a_scope_of_a_resource_server_is_created_and_shown_with_it(api):
    ResourceServerFactory(identifier=ORDERS)
    api.login(READ, WRITE, RESOURCE_SERVERS)
    created = api.post("/api/v1/scopes/", {"name": "orders.read", "resource": ORDERS})
    assert created.status_code == 201 and created.json()["resource"] == ORDERS
    assert api.get("/api/v1/scopes/orders.read/").json()["resource"] == ORDERS
    assert api.post("/api/v1/scopes/", {"name": "profile"}).json()["resource"] is None


def test_creating_a_scope_of_a_resource_server_needs_the_resource_servers_scope(api):
    ResourceServerFactory(identifier=ORDERS)
    api.login(READ, WRITE)
    body = assert_error(api.post("/api/v1/scopes/", {"name": "orders.x", "resource": ORDERS}), 403, "scope_not_held")
    assert body["scopes"] == [RESOURCE_SERVERS]
    assert not Scope.objects.filter(name="orders.x").exists()


def test_an_unknown_resource_for_a_scope_is_a_field_error(api):
    api.login(READ, WRITE, RESOURCE_SERVERS)
    body = assert_error(api.post("/api/v1/scopes/", {"name": "x", "resource": ORDERS}), 400, "invalid_request")
    assert "resource" in body["fields"]


def test_moving_a_scope_through_the_api_ends_its_holders_tokens(api):
    orders = ResourceServerFactory(identifier=ORDERS)
    holder = ClientFactory(scopes=["orders.read"])
    token = AccessTokenFactory(client=holder, scope="orders.read")
    api.login(READ, WRITE, RESOURCE_SERVERS, "orders.read")
    moved = api.patch("/api/v1/scopes/orders.read/", {"resource": ORDERS})
    assert moved.status_code == 200 and moved.json()["resource"] == ORDERS
    assert Scope.objects.get(name="orders.read").resource_server == orders
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.get(action="scope.update").changes["tokens_revoked"] == [None, 2]  # ours, and theirs
    assert not AccessToken.objects.live(timezone.now()).exists()


def test_moving_a_scope_the_caller_does_not_hold_is_refused(api):
    ResourceServerFactory(identifier=ORDERS)
    ClientFactory(scopes=["orders.read"])
    api.login(READ, WRITE, RESOURCE_SERVERS)
    assert_error(api.patch("/api/v1/scopes/orders.read/", {"resource": ORDERS}), 403, "scope_not_held")
    assert Scope.objects.get(name="orders.read").resource_server is None
    api.login(READ, WRITE, ADMIN)
    assert api.patch("/api/v1/scopes/orders.read/", {"resource": ORDERS}).status_code == 200
