"""The scope catalogue in the staff portal: create, describe, see holders; a scope in use is not deleted."""

from clients.models import AuditEvent, Scope
from tests.factories import ClientFactory, ScopeFactory


def test_creating_a_scope_goes_through_the_service_and_is_audited(operator_http, operator):
    response = operator_http.post("/admin/clients/scope/add/", {"name": "orders.read", "description": "Read orders"})
    assert response.status_code == 302
    scope = Scope.objects.get(name="orders.read")
    assert scope.description == "Read orders"
    event = AuditEvent.objects.get(action="scope.create")
    assert (event.actor_type, event.actor, event.target) == ("staff", operator.username, "orders.read")


def test_an_invalid_scope_name_is_refused(operator_http):
    response = operator_http.post("/admin/clients/scope/add/", {"name": "has space", "description": ""})
    assert response.status_code == 200 and not Scope.objects.filter(name="has space").exists()


def test_describing_a_scope_records_before_and_after(operator_http):
    scope = ScopeFactory(name="orders.read", description="old words")
    operator_http.post(f"/admin/clients/scope/{scope.pk}/change/", {"description": "new words"})
    scope.refresh_from_db()
    assert scope.description == "new words"
    assert AuditEvent.objects.get(action="scope.update").changes == {"description": ["old words", "new words"]}


def test_the_scope_page_lists_the_clients_holding_it(operator_http):
    scope = ScopeFactory(name="orders.read")
    holder = ClientFactory(name="billing-job", scopes=[scope])
    page = operator_http.get(f"/admin/clients/scope/{scope.pk}/change/").content.decode()
    assert "billing-job" in page and holder.client_id in page


def test_deleting_an_unused_scope(operator_http):
    scope = ScopeFactory(name="orders.read")
    operator_http.post(f"/admin/clients/scope/{scope.pk}/delete/", {"post": "yes"})
    assert not Scope.objects.filter(pk=scope.pk).exists()
    assert AuditEvent.objects.filter(action="scope.delete", target="orders.read").exists()


def test_a_scope_in_use_shows_its_holders_instead_of_a_delete_button(operator_http):
    scope = ScopeFactory(name="orders.read")
    ClientFactory(name="billing-job", scopes=[scope])
    page = operator_http.get(f"/admin/clients/scope/{scope.pk}/delete/").content.decode()
    assert "cannot be deleted" in page and "billing-job" in page
    assert 'name="post"' not in page


def test_deleting_a_scope_in_use_is_refused_naming_the_clients(operator_http):
    scope = ScopeFactory(name="orders.read")
    holder = ClientFactory(name="billing-job", scopes=[scope])
    response = operator_http.post(f"/admin/clients/scope/{scope.pk}/delete/", {"post": "yes"}, follow=True)
    assert f"held by 1 client(s): billing-job ({holder.client_id})" in response.content.decode()
    assert Scope.objects.filter(pk=scope.pk).exists()
    assert not AuditEvent.objects.filter(action="scope.delete").exists()


def test_scopes_have_no_bulk_delete(operator_http):
    ScopeFactory(name="orders.read")
    assert "delete_selected" not in operator_http.get("/admin/clients/scope/").content.decode()
