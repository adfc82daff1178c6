"""The staff portal's resource servers: the Resource servers section, the scope catalogue grouped by resource
server, a client's grants per resource server, and the introspecting client's page naming what it speaks for."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import AuditEvent, Client, ResourceServer, Scope
from tests.admin_pages import change_url, register
from tests.conftest import in_sudo_mode
from tests.factories import AccessTokenFactory, ClientFactory, ResourceServerFactory, ScopeFactory

pytestmark = pytest.mark.django_db

ORDERS = "https://orders.example.com"
BILLING = "https://billing.example.com"


@pytest.fixture
def admin_http(db) -> HttpClient:
    """A superuser (who holds clients.grant_privileged_access), past the password confirmation."""
    http = HttpClient()
    http.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    return in_sudo_mode(http)


@pytest.fixture
def catalogue(db):
    orders = ResourceServerFactory(identifier=ORDERS, name="Orders")
    billing = ResourceServerFactory(identifier=BILLING, name="Billing")
    ScopeFactory(name="orders.read", resource_server=orders)
    ScopeFactory(name="billing.read", resource_server=billing)
    ScopeFactory(name="profile")
    return orders, billing


def rs_url(resource_server, view: str = "change") -> str:
    return reverse(f"admin:clients_resourceserver_{view}", args=[resource_server.pk])


# The Resource servers section


def test_the_dashboard_and_the_list_show_resource_servers(admin_http, catalogue):
    assert "Resource servers" in admin_http.get("/admin/").content.decode()
    page = admin_http.get("/admin/clients/resourceserver/").content.decode()
    assert ORDERS in page and BILLING in page and "gh-badge-active" in page


def test_registering_a_resource_server_in_the_portal_goes_through_the_service(admin_http):
    response = admin_http.post(
        "/admin/clients/resourceserver/add/",
        {"identifier": ORDERS, "name": "Orders", "description": "", "owner": "team-orders"},
    )
    assert response.status_code == 302
    assert ResourceServer.objects.get().owner == "team-orders"
    event = AuditEvent.objects.get(action="resource.create")
    assert (event.actor_type, event.actor, event.target) == ("staff", "root", ORDERS)


def test_a_bad_identifier_is_refused_on_the_form(admin_http):
    response = admin_http.post("/admin/clients/resourceserver/add/", {"identifier": "orders#x", "name": "Orders"})
    assert response.status_code == 200 and not ResourceServer.objects.exists()


def test_an_operator_sees_resource_servers_but_cannot_register_change_or_retire_them(operator_http, catalogue):
    orders, _ = catalogue
    assert operator_http.get("/admin/clients/resourceserver/").status_code == 200
    page = operator_http.get(rs_url(orders)).content.decode()
    assert "orders.read" in page and "Retire" not in page
    assert operator_http.get("/admin/clients/resourceserver/add/").status_code == 403
    assert operator_http.post(rs_url(orders), {"name": "mine"}).status_code == 403
    assert operator_http.post(rs_url(orders, "retire")).status_code == 403
    orders.refresh_from_db()
    assert orders.name == "Orders" and orders.is_active


def test_the_resource_server_page_lists_its_scopes_and_introspecting_clients(admin_http, catalogue):
    orders, _ = catalogue
    introspector = ClientFactory(name="orders-api", can_introspect=True, resource_server=orders)
    page = admin_http.get(rs_url(orders)).content.decode()
    assert "orders.read" in page and introspector.client_id in page and "billing.read" not in page


def test_retiring_is_refused_while_clients_hold_its_scopes_and_then_done(admin_http, catalogue):
    orders, _ = catalogue
    holder = ClientFactory(name="shop", scopes=["orders.read", "profile"])
    page = admin_http.get(rs_url(orders, "retire")).content.decode()
    assert "cannot be retired" in page and holder.client_id in page
    admin_http.post(rs_url(orders, "retire"))
    orders.refresh_from_db()
    assert orders.is_active
    holder.scopes.set(Scope.objects.filter(name="profile"))
    response = admin_http.post(rs_url(orders, "retire"))
    assert response.status_code == 302
    orders.refresh_from_db()
    assert not orders.is_active
    assert AuditEvent.objects.get(action="resource.retire").actor == "root"
    assert "gh-badge-retired" in admin_http.get(rs_url(orders)).content.decode()


# The scope catalogue grouped by resource server


def test_the_scope_catalogue_is_grouped_by_resource_server_global_first(operator_http, catalogue):
    page = operator_http.get("/admin/clients/scope/").content.decode()
    order = [page.index(name) for name in ("profile", BILLING, "billing.read", ORDERS, "orders.read")]
    assert order == sorted(order)
    assert "global" in page


def test_an_operator_cannot_move_a_scope_to_a_resource_server(operator_http, catalogue):
    orders, _ = catalogue
    profile = Scope.objects.get(name="profile")
    response = operator_http.post(
        f"/admin/clients/scope/{profile.pk}/change/", {"description": "", "resource_server": orders.pk}
    )
    assert response.status_code == 200  # the form, with the refusal
    assert "grant gatehouse:* scopes" in response.content.decode()
    profile.refresh_from_db()
    assert profile.resource_server is None


def test_moving_a_scope_in_the_portal_ends_its_holders_tokens(admin_http, catalogue):
    orders, _ = catalogue
    holder = ClientFactory(name="shop", scopes=["profile"])
    token = AccessTokenFactory(client=holder, scope="profile")
    profile = Scope.objects.get(name="profile")
    response = admin_http.post(
        f"/admin/clients/scope/{profile.pk}/change/", {"description": "", "resource_server": orders.pk}, follow=True
    )
    assert "live tokens of the clients holding it were ended" in response.content.decode()
    profile.refresh_from_db()
    token.refresh_from_db()
    assert profile.resource_server == orders and token.revoked_at is not None


def test_a_scope_is_created_for_a_resource_server(admin_http, catalogue):
    orders, _ = catalogue
    admin_http.post(
        "/admin/clients/scope/add/", {"name": "orders.write", "description": "", "resource_server": orders.pk}
    )
    assert Scope.objects.get(name="orders.write").resource_server == orders


# A client's page


def test_a_clients_grants_are_shown_per_resource_server(operator_http, catalogue):
    shop = ClientFactory(name="shop", scopes=["orders.read", "billing.read", "profile"])
    page = operator_http.get(change_url(shop)).content.decode()
    grants = re.search(r'data-glance="grants">(.*?)</dd>', page, re.S).group(1)
    assert 'data-group="Global scopes"' in grants
    assert f'data-group="Orders ({ORDERS})"' in grants and f'data-group="Billing ({BILLING})"' in grants
    assert grants.index("profile") < grants.index("billing.read") < grants.index("orders.read")


def test_the_scope_checkboxes_are_grouped_by_resource_server(operator_http, catalogue):
    shop = ClientFactory(name="shop")
    page = operator_http.get(change_url(shop)).content.decode()
    assert f"Orders ({ORDERS})" in page and "Global scopes" in page


def test_an_introspecting_clients_page_says_which_resource_server_it_speaks_for(operator_http, catalogue):
    orders, _ = catalogue
    bound = ClientFactory(name="orders-api", can_introspect=True, resource_server=orders)
    gateway = ClientFactory(name="gateway", can_introspect=True)
    said = re.search(r'data-glance="introspection">(.*?)</dd>', operator_http.get(change_url(bound)).content.decode())
    assert ORDERS in said.group(1) and "sees only tokens meant for it" in said.group(1)
    said = re.search(r'data-glance="introspection">(.*?)</dd>', operator_http.get(change_url(gateway)).content.decode())
    assert "global introspector" in said.group(1)


def test_registering_an_introspector_for_a_resource_server(admin_http, catalogue):
    orders, _ = catalogue
    response = register(admin_http, name="orders-api", can_introspect="on", resource_server=str(orders.pk))
    assert response.status_code == 200
    client = Client.objects.get(name="orders-api")
    assert client.can_introspect and client.resource_server == orders


def test_a_resource_server_without_may_introspect_is_refused_on_the_register_form(admin_http, catalogue):
    orders, _ = catalogue
    response = register(admin_http, name="x", resource_server=str(orders.pk))
    assert "Only a client that may introspect" in response.content.decode()
    assert not Client.objects.filter(name="x").exists()


def test_an_operator_cannot_rebind_an_introspector(operator_http, catalogue):
    orders, billing = catalogue
    bound = ClientFactory(name="orders-api", can_introspect=True, resource_server=orders)
    form = {"name": "orders-api", "description": "", "can_introspect": "on", "token_ttl": "3600"}
    operator_http.post(change_url(bound), {**form, "resource_server": str(billing.pk)})
    bound.refresh_from_db()
    assert bound.resource_server == orders
