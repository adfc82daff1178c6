"""The staff portal end to end in Debian's chromium, driven by Playwright against a live Gatehouse.

Screenshots of the main pages go to test-artifacts/screenshots/, or to docs/screenshots/ (the README's pictures)
with GATEHOUSE_SCREENSHOTS=1. Secrets are masked in every screenshot.
"""

import os
import re
from pathlib import Path

import pytest
import requests

from clients.models import Client
from clients.roles import sync_roles
from tests.browser import launch_chromium
from tests.factories import ClientFactory, ScopeFactory

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / ("docs/screenshots" if os.environ.get("GATEHOUSE_SCREENSHOTS") == "1" else "test-artifacts/screenshots")
PASSWORD = "correct-horse-battery-9"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per module, with a fresh empty profile per context."""
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def portal(browser, live_server, transactional_db):
    """A page factory: `portal(user)` opens a new browser context logged in as that staff user."""
    sync_roles()  # the flush between transactional tests empties the groups the migration made
    contexts = []

    def open_as(user, **options):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860}, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("/admin/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(re.compile(r"/admin/$"))
        return page

    yield open_as
    for context in contexts:
        context.close()


def staff(username: str, group: str):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def shot(page, name: str, *secret_selectors: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    masks = [page.locator(selector) for selector in secret_selectors]
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, mask=masks, animations="disabled")


def token_status(live_server, client_id: str, secret: str) -> int:
    response = requests.post(
        f"{live_server.url}/oauth/token", auth=(client_id, secret), data={"grant_type": "client_credentials"}, timeout=5
    )
    return response.status_code


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_operator_registers_rotates_retires_and_disables_a_client(portal, live_server):
    ScopeFactory(name="orders.read", description="Read orders")
    ScopeFactory(name="orders.write", description="Create and change orders")
    ClientFactory(name="reporting-job", scopes=["orders.read"])
    page = portal(staff("olivia", "Operator"), permissions=["clipboard-read", "clipboard-write"])
    # The portal's Content-Security-Policy allows no inline script or style: chromium reports any violation.
    violations = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )

    # Register: the once-page shows the id and the secret; the copy button puts the secret on the clipboard.
    page.get_by_role("link", name="Register a client").first.click()
    page.fill("#id_name", "billing-job")
    page.fill("#id_description", "Nightly invoice run")
    page.get_by_label("orders.read").check()
    shot(page, "register")
    page.get_by_role("button", name="Register and show the secret").click()
    page.get_by_text("cannot be shown again").wait_for()
    client_id = page.locator("#client-id").inner_text()
    page.get_by_role("button", name="Copy secret").click()
    secret = page.evaluate("navigator.clipboard.readText()")
    assert secret == page.locator("#client-secret").inner_text() and secret.startswith("gth_cs_")
    assert secret in page.locator("#curl-command").inner_text()
    shot(page, "secret-once", "#client-secret", "#curl-command")
    assert token_status(live_server, client_id, secret) == 200
    assert Client.objects.filter(name="billing-job").count() == 1

    # Reloading the page (a resubmitted POST) neither registers again nor shows the secret: it lands on the
    # client's page, which only knows the secret's hint.
    page.reload()
    page.wait_for_url(re.compile(r"/change/$"))
    page.get_by_text("already submitted").wait_for()
    assert secret not in page.content()
    assert Client.objects.filter(name="billing-job").count() == 1
    expect(page.locator("tr.gh-secret-row")).to_have_count(1)

    # Rotate with a 24 hour grace: both secrets work, the history shows both. First the password again (sudo mode).
    page.get_by_role("link", name="Rotate secret").click()
    page.get_by_text("needs your password again").wait_for()
    shot(page, "sudo")
    page.fill("#id_sudo_password", "wrong password")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("That password is not right").wait_for()
    page.fill("#id_sudo_password", PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("24 hours").check()
    shot(page, "rotate")
    page.get_by_role("button", name="Continue").click()
    page.get_by_text("keeps working until").wait_for()
    shot(page, "rotate-confirm")
    page.get_by_role("button", name="Rotate secret").click()
    new_secret = page.locator("#client-secret").inner_text()
    assert new_secret != secret
    assert token_status(live_server, client_id, new_secret) == 200
    assert token_status(live_server, client_id, secret) == 200
    page.get_by_role("link", name="I have saved the secret").click()
    page.wait_for_url(re.compile(r"/change/$"))
    page.goto("/admin/")
    shot(page, "dashboard")
    page.go_back()
    expect(page.locator("tr[data-state='active']")).to_have_count(1)
    expect(page.locator("tr[data-state='in grace']")).to_have_count(1)
    assert new_secret not in page.content() and secret not in page.content()
    shot(page, "client")

    # Retire the old secret early: it stops working, the new one is untouched.
    page.locator("tr[data-state='in grace'] a.gh-retire").click()
    page.get_by_role("button", name="Retire secret").click()
    page.locator("ul.messagelist").get_by_text("is retired").wait_for()  # not a secret row whose hint ends in "is"
    expect(page.locator("tr[data-state='retired']")).to_have_count(1)
    assert token_status(live_server, client_id, secret) == 401
    assert token_status(live_server, client_id, new_secret) == 200

    # Disable: the confirmation states the consequence; afterwards the client gets no token.
    page.get_by_role("link", name="Disable").click()
    page.get_by_text("live token(s) are revoked now").wait_for()
    shot(page, "disable-confirm")
    page.get_by_role("button", name="Disable client and revoke its tokens").click()
    page.locator(".gh-glance .gh-badge-disabled").wait_for()
    assert token_status(live_server, client_id, new_secret) == 401

    page.goto("/admin/clients/client/")
    shot(page, "clients")
    page.goto("/admin/clients/scope/")
    page.get_by_role("link", name="orders.read").click()
    page.get_by_role("link", name="Delete").click()
    expect(page.locator("#scope-holders li")).to_have_count(2)
    shot(page, "scope-in-use")
    page.goto("/admin/clients/auditevent/")
    assert page.locator("td.field-action").all_inner_texts()[:4] == [
        "client.disable",
        "secret.retire",
        "secret.rotate",
        "client.create",
    ]
    shot(page, "audit")
    assert violations == []
    csp = page.request.get("/admin/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_an_auditor_sees_the_client_but_cannot_rotate(portal):
    client = ClientFactory(name="billing-job", scopes=["orders.read"])
    page = portal(staff("arthur", "Auditor"))
    page.goto(f"/admin/clients/client/{client.pk}/change/")
    expect(page.locator("tr.gh-secret-row")).to_have_count(1)
    expect(page.get_by_role("link", name="Rotate secret")).to_have_count(0)
    expect(page.get_by_role("link", name="Disable")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"/admin/clients/client/{client.pk}/rotate/",
        form={"csrfmiddlewaretoken": csrf, "grace": "0", "confirmed": "yes", "once": "x"},
    )
    assert response.status == 403
    assert client.secrets.count() == 1


def test_registration_works_without_javascript(portal):
    ScopeFactory(name="orders.read")
    page = portal(staff("olivia", "Operator"), java_script_enabled=False)
    page.goto("/admin/clients/client/add/")
    page.fill("#id_name", "no-js-job")
    page.get_by_label("orders.read").check()
    page.get_by_role("button", name="Register and show the secret").click()
    assert page.locator("#client-secret").inner_text().startswith("gth_cs_")
    assert not page.get_by_role("button", name="Copy secret").is_visible()
