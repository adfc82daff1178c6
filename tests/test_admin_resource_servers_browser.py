"""The portal's resource servers in Debian's chromium: register one, see the catalogue grouped, bind an
introspecting client to it, and have it introspect a token over HTTP; no Content-Security-Policy violation."""

import re

import pytest
import requests
from django.contrib.auth.models import User

from clients.models import Client, ResourceServer
from tests.factories import ClientFactory, ResourceServerFactory, ScopeFactory
from tests.test_admin_browser import PASSWORD, browser, expect, portal, shot  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

ORDERS = "https://orders.example.com"
BILLING = "https://billing.example.com"


def test_a_privileged_user_registers_a_resource_server_and_binds_an_introspector(portal, live_server):  # noqa: F811
    billing = ResourceServerFactory(identifier=BILLING, name="Billing")
    ScopeFactory(name="billing.read", resource_server=billing)
    ScopeFactory(name="profile")
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    page = portal(User.objects.get(username="root"))
    violations = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )

    page.get_by_role("link", name="Resource servers").first.click()
    page.get_by_role("link", name="Add resource server").click()
    page.fill("#id_identifier", ORDERS)
    page.fill("#id_name", "Orders")
    page.fill("#id_owner", "team-orders")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    orders = ResourceServer.objects.get(identifier=ORDERS)
    ScopeFactory(name="orders.read", resource_server=orders)
    shot(page, "resource-servers")

    page.goto("/admin/clients/scope/")
    rows = page.locator("#result_list tbody tr").all_inner_texts()
    ours = [row.split("\t")[1] for row in rows if not row.split("\t")[1].startswith("gatehouse:")]
    assert ours == ["profile", "billing.read", "orders.read"]  # global first, then by resource server
    shot(page, "scopes-by-resource-server")

    # Register the orders API's introspecting client, bound to Orders (the password again: a privileged grant).
    page.goto("/admin/clients/client/add/")
    page.fill("#id_name", "orders-api")
    page.get_by_label("May introspect").check()
    page.select_option("#id_resource_server", label=ORDERS)
    page.get_by_role("button", name="Register and show the secret").click()
    page.get_by_text("needs your password again").wait_for()
    page.fill("#id_sudo_password", PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("cannot be shown again").wait_for()
    rs_id = page.locator("#client-id").inner_text()
    rs_secret = page.locator("#client-secret").inner_text()
    introspector = Client.objects.get(client_id=rs_id)
    assert introspector.resource_server == orders

    page.goto(f"/admin/clients/client/{introspector.pk}/change/")
    expect(page.locator("[data-glance='introspection']")).to_contain_text("sees only tokens meant for it")
    shot(page, "introspector")

    # It speaks for Orders over HTTP: a billing token is inactive, an orders token active with aud.
    shop = ClientFactory(name="shop", scopes=["orders.read", "billing.read", "profile"])

    def token(resource: str) -> str:
        return requests.post(
            f"{live_server.url}/oauth/token",
            data={"grant_type": "client_credentials", "resource": resource},
            auth=(shop.client_id, shop.secret),
            timeout=5,
        ).json()["access_token"]

    def introspect(value: str) -> dict:
        return requests.post(
            f"{live_server.url}/oauth/introspect", data={"token": value}, auth=(rs_id, rs_secret), timeout=5
        ).json()

    assert introspect(token(BILLING)) == {"active": False}
    assert introspect(token(ORDERS))["aud"] == ORDERS

    # Retiring Orders is refused while shop holds orders.read, naming it.
    page.goto(f"/admin/clients/resourceserver/{orders.pk}/change/")
    page.get_by_role("link", name="Retire").click()
    expect(page.locator("#holders li")).to_have_count(1)
    assert re.search("shop", page.locator("#holders").inner_text())
    assert violations == []
