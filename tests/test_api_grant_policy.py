"""The grant rule: a caller grants, and manages clients holding, only scopes its token carries, unless admin;
clients that may introspect need gatehouse:resource-servers:write (or admin); the rule is checked in the
transaction that writes, against the caller's token as it is then."""

import pytest
from django.utils import timezone

from api.authentication import BearerAuthentication
from clients import services
from clients.models import Client, ClientSecret, Scope
from clients.services import Actor
from tests.api import ADMIN, READ, RESOURCE_SERVERS, WRITE, assert_error
from tests.factories import ClientFactory, ScopeFactory

URL = "/api/v1/clients/"


@pytest.fixture
def pipeline(api):
    ScopeFactory(name="payments.write")
    return api.login(WRITE, READ, "orders.read")


def test_a_caller_may_grant_scopes_it_holds(api, pipeline):
    response = api.post(URL, {"name": "x", "scopes": ["orders.read", READ]})
    assert response.status_code == 201


def test_a_caller_may_not_grant_a_scope_it_does_not_hold(api, pipeline):
    body = assert_error(api.post(URL, {"name": "x", "scopes": ["payments.write"]}), 403, "scope_not_held")
    assert body["scopes"] == ["payments.write"]
    assert not Client.objects.filter(name="x").exists()


def test_a_caller_may_not_grant_the_admin_scope_without_holding_it(api, pipeline):
    assert_error(api.post(URL, {"name": "x", "scopes": [ADMIN]}), 403, "scope_not_held")


def test_a_caller_may_not_add_a_scope_it_does_not_hold(api, pipeline):
    target = ClientFactory(scopes=["orders.read"])
    assert_error(api.patch(f"{URL}{target.client_id}/", {"scopes": ["payments.write"]}), 403, "scope_not_held")
    assert target.scope_names() == ["orders.read"]


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("PATCH", "", {"name": "mine now"}),
        ("POST", "rotate/", {}),
        ("POST", "disable/", None),
        ("POST", "enable/", None),
        ("POST", "revoke-tokens/", None),
        ("POST", "secrets/{secret}/retire/", None),
    ],
)
def test_a_caller_may_not_manage_a_client_holding_scopes_it_lacks(api, pipeline, method, action, body):
    target = ClientFactory(name="payments", scopes=["payments.write", "orders.read"])
    path = f"{URL}{target.client_id}/{action.format(secret=target.secret_row.pk)}"
    response = api.request(method, path, body)
    assert_error(response, 403, "scope_not_held")
    target.refresh_from_db()
    assert (target.name, target.is_active, target.secrets.count()) == ("payments", True, 1)


def test_a_caller_may_still_read_such_a_client(api, pipeline):
    target = ClientFactory(scopes=["payments.write"])
    assert api.get(f"{URL}{target.client_id}/").status_code == 200


def test_an_admin_may_grant_and_manage_anything(api):
    api.login(ADMIN)
    ScopeFactory(name="payments.write")
    created = api.post(URL, {"name": "x", "scopes": ["payments.write", ADMIN]})
    assert created.status_code == 201
    target = ClientFactory(scopes=["payments.write"])
    assert api.post(f"{URL}{target.client_id}/rotate/", {}).status_code == 200


# Finding 1, without the race: the rule goes by name, whether the scope exists or not.
@pytest.mark.parametrize("name", ["payments.admin", "not.yet.made", ADMIN, "GATEHOUSE:ADMIN"])
def test_a_scope_is_refused_by_name_whether_or_not_it_exists(api, pipeline, name):
    own = f"{URL}{pipeline.client_id}/"
    for response in (
        api.post(URL, {"name": "x", "scopes": [name]}),
        api.patch(own, {"scopes": [WRITE, READ, "orders.read", name]}),
        api.put(own, {"name": "p", "scopes": [name], "can_introspect": False, "token_ttl": 60}),
    ):
        body = assert_error(response, 403, "scope_not_held")
        assert body["scopes"] == [name]
    assert pipeline.scope_names() == sorted([WRITE, READ, "orders.read"])
    assert not Client.objects.filter(name="x").exists()


def test_a_writer_may_not_delete_or_recreate_the_admin_scope(api, pipeline):
    """The first step of the attack: nobody holds gatehouse:admin on a fresh install, so deleting it was allowed."""
    assert not Client.objects.filter(scopes__name=ADMIN).exists()
    assert_error(api.delete(f"/api/v1/scopes/{ADMIN}/"), 403, "reserved_scope")
    assert_error(api.post("/api/v1/scopes/", {"name": ADMIN}), 403, "reserved_scope")
    assert Scope.objects.filter(name=ADMIN).exists()


# Finding 5: a writer takes over resource servers.
@pytest.fixture
def resource_server(db):
    return ClientFactory(name="orders-api", can_introspect=True)


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("PATCH", "", {"name": "mine now"}),
        ("PUT", "", {"name": "mine", "scopes": [], "can_introspect": True, "token_ttl": 60}),
        ("POST", "rotate/", {}),
        ("POST", "disable/", None),
        ("POST", "revoke-tokens/", None),
        ("POST", "secrets/{secret}/retire/", None),
    ],
)
def test_a_writer_may_not_manage_a_client_that_may_introspect(api, pipeline, resource_server, method, action, body):
    path = f"{URL}{resource_server.client_id}/{action.format(secret=resource_server.secret_row.pk)}"
    response = api.request(method, path, body)
    assert assert_error(response, 403, "scope_not_held")["scopes"] == [RESOURCE_SERVERS]
    resource_server.refresh_from_db()
    assert (resource_server.name, resource_server.is_active, resource_server.secrets.count()) == ("orders-api", True, 1)


def test_a_writer_may_not_grant_the_introspection_privilege(api, pipeline):
    target = ClientFactory(name="job")
    assert_error(api.post(URL, {"name": "spy", "can_introspect": True}), 403, "scope_not_held")
    assert_error(api.patch(f"{URL}{target.client_id}/", {"can_introspect": True}), 403, "scope_not_held")
    assert_error(api.patch(f"{URL}{pipeline.client_id}/", {"can_introspect": True}), 403, "scope_not_held")
    assert not Client.objects.filter(can_introspect=True).exists()


def test_the_resource_servers_scope_manages_introspecting_clients(api, resource_server):
    api.login(READ, WRITE, RESOURCE_SERVERS)
    assert api.post(URL, {"name": "billing-api", "can_introspect": True}).status_code == 201
    assert api.post(f"{URL}{resource_server.client_id}/rotate/", {}).status_code == 200
    assert api.patch(f"{URL}{resource_server.client_id}/", {"can_introspect": False}).status_code == 200


def test_the_resource_servers_scope_is_granted_by_the_rule_like_any_other(api, pipeline):
    assert_error(api.post(URL, {"name": "x", "scopes": [RESOURCE_SERVERS]}), 403, "scope_not_held")


# The caller is checked again inside the transaction that writes: a token that dies meanwhile changes nothing.
def test_a_token_that_dies_during_the_request_changes_nothing(api, pipeline, monkeypatch):
    authenticate = BearerAuthentication.authenticate

    def authenticate_then_lose_the_writer_scope(self, request):
        result = authenticate(self, request)
        services.client_update(client=pipeline, actor=Actor.cli(), scopes=[READ, "orders.read"])
        return result

    monkeypatch.setattr(BearerAuthentication, "authenticate", authenticate_then_lose_the_writer_scope)
    assert_error(api.post(URL, {"name": "x"}), 401, "invalid_token")
    assert not Client.objects.filter(name="x").exists()


@pytest.mark.parametrize("change", ["disable", "retire"])
def test_a_writer_whose_client_or_secret_ended_meanwhile_is_refused(api, pipeline, monkeypatch, change):
    authenticate = BearerAuthentication.authenticate
    target = ClientFactory(name="target")

    def authenticate_then_end(self, request):
        result = authenticate(self, request)
        if change == "disable":
            Client.objects.filter(pk=pipeline.pk).update(is_active=False)
        else:
            ClientSecret.objects.filter(client=pipeline).update(retired_at=timezone.now(), valid_until=timezone.now())
        return result

    monkeypatch.setattr(BearerAuthentication, "authenticate", authenticate_then_end)
    assert_error(api.post(f"{URL}{target.client_id}/rotate/", {}), 401, "invalid_token")
    assert target.secrets.count() == 1
