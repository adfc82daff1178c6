"""/api/v1/scopes/: list, create, change the description of and delete scopes."""

import pytest
from django.db import IntegrityError, transaction

from clients.models import AuditEvent, Scope
from tests.api import ADMIN, READ, WRITE, assert_error
from tests.factories import ClientFactory, ScopeFactory

URL = "/api/v1/scopes/"


def test_list_includes_the_api_scopes_and_others(api):
    ScopeFactory(name="orders.read", description="Read orders")
    api.login(READ)
    body = api.get(URL).json()
    names = [s["name"] for s in body["results"]]
    assert "orders.read" in names and "gatehouse:clients:write" in names
    assert {"name": "orders.read", "description": "Read orders"}.items() <= body["results"][
        names.index("orders.read")
    ].items()


def test_retrieve_shows_one_scope_even_with_a_slash_in_its_name(api):
    ScopeFactory(name="orders/read", description="Read")
    api.login(READ)
    assert api.get(f"{URL}orders/read/").json()["description"] == "Read"


def test_retrieve_of_an_unknown_scope_is_not_found(api):
    api.login(READ)
    assert_error(api.get(f"{URL}nope/"), 404, "not_found")


def test_create_makes_a_scope_and_audits_it(api):
    writer = api.login(WRITE)
    response = api.post(URL, {"name": "orders.read", "description": "Read orders"})
    assert response.status_code == 201
    assert response.json()["name"] == "orders.read"
    assert Scope.objects.get(name="orders.read").description == "Read orders"
    event = AuditEvent.objects.get(action="scope.create")
    assert (event.actor_type, event.actor, event.target) == ("api", writer.client_id, "orders.read")


def test_create_refuses_a_taken_or_malformed_name(api):
    api.login(WRITE)
    ScopeFactory(name="orders.read")
    for name in ("orders.read", "has space", 'quo"te', "", "x" * 129):
        body = assert_error(api.post(URL, {"name": name}), 400, "invalid_request")
        assert "name" in body["fields"], name


def test_update_changes_only_the_description(api):
    api.login(WRITE)
    ScopeFactory(name="orders.read", description="old")
    for method in ("PATCH", "PUT"):
        response = api.request(method, f"{URL}orders.read/", {"description": method})
        assert response.status_code == 200 and response.json()["description"] == method
    assert Scope.objects.get(name="orders.read").description == "PUT"
    assert AuditEvent.objects.filter(action="scope.update").count() == 2


def test_update_refuses_a_rename(api):
    api.login(WRITE)
    ScopeFactory(name="orders.read")
    body = assert_error(api.patch(f"{URL}orders.read/", {"name": "x", "description": "d"}), 400, "invalid_request")
    assert "name" in body["fields"]
    assert Scope.objects.filter(name="orders.read").exists()


def test_delete_removes_an_unused_scope(api):
    api.login(WRITE)
    ScopeFactory(name="orders.read")
    assert api.delete(f"{URL}orders.read/").status_code == 204
    assert not Scope.objects.filter(name="orders.read").exists()
    assert AuditEvent.objects.filter(action="scope.delete", target="orders.read").exists()


def test_delete_of_a_scope_in_use_is_refused_saying_by_whom(api):
    api.login(WRITE)
    holder = ClientFactory(name="billing", scopes=["orders.read"])
    body = assert_error(api.delete(f"{URL}orders.read/"), 409, "scope_in_use")
    assert body["held_by"] == [{"client_id": holder.client_id, "name": "billing"}]
    assert holder.client_id in body["error_description"]
    assert Scope.objects.filter(name="orders.read").exists()


def test_delete_of_an_unknown_scope_is_not_found(api):
    api.login(WRITE)
    assert_error(api.delete(f"{URL}nope/"), 404, "not_found")


# Finding 6: reserved scopes are editable, and look-alikes can be made.
@pytest.mark.parametrize("caller", [WRITE, ADMIN])
def test_gatehouse_scopes_are_not_changed_deleted_or_made_through_the_api_even_by_an_admin(api, caller):
    api.login(WRITE, caller)
    before = Scope.objects.get(name=ADMIN).description
    for method in ("PATCH", "PUT"):
        body = assert_error(api.request(method, f"{URL}{ADMIN}/", {"description": "grant me"}), 403, "reserved_scope")
        assert body["scope"] == ADMIN
    assert_error(api.delete(f"{URL}{ADMIN}/"), 403, "reserved_scope")
    for name in ("gatehouse:payments", "GATEHOUSE:ADMIN", "Gatehouse:Clients:Write"):
        assert_error(api.post(URL, {"name": name}), 403, "reserved_scope")
    assert Scope.objects.get(name=ADMIN).description == before
    assert not Scope.objects.filter(name__in=["gatehouse:payments", "GATEHOUSE:ADMIN"]).exists()
    assert not AuditEvent.objects.filter(action__startswith="scope.").exists()


def test_a_name_equal_to_another_ignoring_case_is_refused(api):
    api.login(WRITE)
    ScopeFactory(name="orders.read")
    for name in ("Orders.Read", "ORDERS.READ"):
        body = assert_error(api.post(URL, {"name": name}), 400, "invalid_request")
        assert body["fields"]["name"] == [
            "a scope named orders.read already exists (scope names are compared ignoring case)"
        ]
    assert list(Scope.objects.filter(name__iexact="orders.read").values_list("name", flat=True)) == ["orders.read"]


def test_the_database_refuses_case_duplicates_too(db):
    ScopeFactory(name="orders.read")
    with pytest.raises(IntegrityError), transaction.atomic():
        Scope.objects.create(name="Orders.Read")
