"""The secretless parts of the staff portal in Debian's chromium: register a trust, press its test button, bind a
client to it, register a private_key_jwt client by pasting its JWKS and retire its key."""

import json
import re

import pytest
from playwright.sync_api import expect

from clients import jwks
from clients.models import Client, ClientKey
from tests import jose
from tests.issuer import LocalIssuer
from tests.test_admin_browser import PASSWORD, browser, portal  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def confirm_password(page):
    page.get_by_text("needs your password again").wait_for()
    page.fill("#id_sudo_password", PASSWORD)
    page.get_by_role("button", name="Confirm").click()


def test_trust_with_test_button_and_a_keyed_client(portal, settings):  # noqa: F811
    from django.contrib.auth.models import User

    settings.GATEHOUSE_JWKS_ALLOW_LOOPBACK = True
    jwks.key_cache.clear()
    admin = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    page = portal(admin)
    with LocalIssuer() as issuer:
        page.goto("/admin/clients/trust/add/")
        confirm_password(page)
        page.fill("#id_name", "github-actions")
        page.fill("#id_issuer", issuer.url)
        page.fill("#id_audience", "https://auth.example.com")
        page.get_by_role("button", name="Register trust").click()
        page.wait_for_url(re.compile(r"/admin/clients/trust/\d+/change/$"))
        page.get_by_role("button", name="Test: fetch its keys").click()
        page.get_by_text("publishes 1 key(s): issuer-key-1").wait_for()

    # A client bound to a subject of that trust: no secret is shown.
    page.goto("/admin/clients/client/add/")
    page.fill("#id_name", "acme-deploy")
    page.get_by_label("Federated: a trusted issuer's tokens for one subject").check()
    page.select_option("#id_trust", "github-actions")
    page.fill("#id_subject", "repo:acme/deploy:ref:refs/heads/main")
    page.get_by_role("button", name="Register and show the secret").click()
    page.get_by_text("with no secret").wait_for()
    assert Client.objects.get(name="acme-deploy").subject == "repo:acme/deploy:ref:refs/heads/main"

    # A private_key_jwt client by its pasted JWKS; then its key is retired from its page.
    page.goto("/admin/clients/client/add/")
    page.fill("#id_name", "invoice-worker")
    page.get_by_label("private_key_jwt: its public keys, pasted as a JWKS").check()
    page.fill("#id_jwks", json.dumps(jose.public_jwks(jose.ec_key("laptop-1"))))
    page.get_by_role("button", name="Register and show the secret").click()
    page.get_by_text("with no secret").wait_for()
    expect(page.locator("tr.gh-key-row[data-state=active]")).to_have_count(1)
    page.locator("tr.gh-key-row a.gh-retire").click()
    page.get_by_text("only active key").wait_for()
    page.get_by_role("button", name="Retire key").click()
    page.get_by_text("Key laptop-1 is retired").wait_for()
    expect(page.locator("tr.gh-key-row[data-state=retired]")).to_have_count(1)
    assert ClientKey.objects.get(kid="laptop-1").retired_at is not None
