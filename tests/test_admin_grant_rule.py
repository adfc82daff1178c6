"""The staff portal honours the grant rule: gatehouse:* scopes and the introspection privilege need a permission
of their own (clients.grant_privileged_access) that superusers have and the Operator group does not."""

import html

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client as HttpClient

from clients.models import ADMIN_SCOPE, CLIENTS_WRITE, AuditEvent, Client, Scope
from tests.admin_pages import change_url, confirm_url, register, retire_url, rotate, rotate_url, shown_secret
from tests.conftest import in_sudo_mode
from tests.factories import ClientFactory, ScopeFactory

REFUSAL = "needs the permission to grant gatehouse:* scopes and the introspection privilege"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def privileged_http(db) -> HttpClient:
    """An Operator who was also given the privileged permission."""
    user = User.objects.create_user("priya", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    user.user_permissions.add(Permission.objects.get(codename="grant_privileged_access"))
    http = HttpClient()
    http.force_login(user)
    return in_sudo_mode(http)


def test_the_operator_group_lacks_the_privileged_permission_and_superusers_have_it(operator, db):
    assert not operator.has_perm("clients.grant_privileged_access")
    assert User.objects.create_superuser("root").has_perm("clients.grant_privileged_access")
    assert Permission.objects.get(codename="grant_privileged_access").name == (
        "Can grant gatehouse:* scopes and the introspection privilege"
    )


# Finding 7: an Operator who is not a superuser registers a client holding gatehouse:admin.
@pytest.mark.parametrize("grant", [{"scopes": ADMIN_SCOPE}, {"scopes": CLIENTS_WRITE}, {"can_introspect": "on"}])
def test_an_operator_cannot_register_a_privileged_client(operator_http, grant):
    if "scopes" in grant:
        grant = {"scopes": [Scope.objects.get(name=grant["scopes"]).pk]}
    response = register(operator_http, name="backdoor", **grant)
    assert response.status_code == 200
    assert REFUSAL in page_text(response)
    assert 'id="client-secret"' not in response.content.decode()
    assert not Client.objects.filter(name="backdoor").exists()
    assert not AuditEvent.objects.exists()


def test_an_operator_still_registers_ordinary_clients(operator_http):
    scope = ScopeFactory(name="orders.read")
    response = register(operator_http, name="billing-job", scopes=[scope.pk])
    assert shown_secret(response).startswith("gth_cs_")


def test_an_operator_cannot_add_a_gatehouse_scope_or_the_privilege_to_a_client(operator_http):
    client = ClientFactory(name="billing-job", scopes=["orders.read"])
    orders, admin = ScopeFactory(name="orders.read"), Scope.objects.get(name=ADMIN_SCOPE)
    for change in ({"scopes": [orders.pk, admin.pk]}, {"scopes": [orders.pk], "can_introspect": "on"}):
        response = operator_http.post(change_url(client), {"name": "billing-job", "token_ttl": "3600", **change})
        assert response.status_code == 200  # the form again, with the reason
        assert REFUSAL in page_text(response)
    client = Client.objects.get(pk=client.pk)
    assert (client.scope_names(), client.can_introspect) == (["orders.read"], False)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("holder", [{"scopes": [CLIENTS_WRITE]}, {"can_introspect": True}])
def test_an_operator_cannot_manage_a_privileged_client(operator_http, holder):
    client = ClientFactory(name="deploy-pipeline", **holder)
    for url in (rotate_url(client), confirm_url(client, "disable"), retire_url(client, client.secret_row)):
        for response in (operator_http.get(url, follow=True), operator_http.post(url, follow=True)):
            assert response.status_code == 200
            assert REFUSAL in page_text(response), url
    refused = operator_http.post(change_url(client), {"name": "renamed", "token_ttl": "3600"})
    assert REFUSAL in page_text(refused)
    client = Client.objects.get(pk=client.pk)
    assert (client.name, client.is_active, client.secrets.count()) == ("deploy-pipeline", True, 1)
    assert not AuditEvent.objects.exists()


def test_staff_with_the_permission_grant_and_manage_privileged_clients(privileged_http):
    admin = Scope.objects.get(name=ADMIN_SCOPE)
    response = register(privileged_http, name="platform-admin", scopes=[admin.pk], can_introspect="on")
    assert shown_secret(response).startswith("gth_cs_")
    client = Client.objects.get(name="platform-admin")
    assert (client.scope_names(), client.can_introspect) == ([ADMIN_SCOPE], True)
    assert shown_secret(rotate(privileged_http, client)).startswith("gth_cs_")


# Finding 6 in the portal: gatehouse:* scopes are read-only to everyone, and look-alikes are refused.
def test_gatehouse_scopes_are_read_only_in_the_portal_even_for_a_superuser(operator_http, db):
    scope = Scope.objects.get(name=ADMIN_SCOPE)
    root = HttpClient()
    root.force_login(User.objects.create_superuser("root"))
    for http in (operator_http, root):
        page = http.get(f"/admin/clients/scope/{scope.pk}/change/").content.decode()
        assert 'name="description"' not in page and 'name="_save"' not in page
        assert http.post(f"/admin/clients/scope/{scope.pk}/change/", {"description": "x"}).status_code == 403
        assert http.post(f"/admin/clients/scope/{scope.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Scope.objects.get(pk=scope.pk).description == scope.description


@pytest.mark.parametrize(("name", "reason"), [("GATEHOUSE:ADMIN", "gatehouse:"), ("Orders.Read", "ignoring case")])
def test_reserved_and_look_alike_scope_names_are_refused_in_the_portal(operator_http, name, reason):
    ScopeFactory(name="orders.read")
    response = operator_http.post("/admin/clients/scope/add/", {"name": name, "description": ""})
    assert response.status_code == 200 and reason in page_text(response)
    assert not Scope.objects.filter(name=name).exists()
