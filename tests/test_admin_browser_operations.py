"""The portal's day-to-day pages in chromium: owners, live tokens and revoking one, secrets' use before a rotation
or a retirement, the issuance chart, and the edges that cost trust (contrast, wrapping, dark mode, favicon).

Screenshots go where tests/test_admin_browser.py puts them (docs/screenshots/ with GATEHOUSE_SCREENSHOTS=1).
"""

import re
from datetime import UTC, datetime

import pytest
import requests
import time_machine
from django.utils import timezone

from tests.factories import AccessTokenFactory, ClientFactory, ScopeFactory
from tests.test_admin_browser import PASSWORD, expect, shot, staff, token_status
from tokens.models import AccessToken

pytestmark = pytest.mark.browser

# The WCAG 2 contrast ratio of an element's text against the first opaque background behind it.
CONTRAST_JS = """
(element) => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let node = element, background = null;
  while (node && node.nodeType === 1) {
    const color = rgb(getComputedStyle(node).backgroundColor);
    if (color.length === 3 || (color.length === 4 && color[3] > 0.9)) { background = color; break; }
    node = node.parentElement;
  }
  background = background || [255, 255, 255];
  const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(background)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
"""


@pytest.fixture(scope="module")
def browser():
    from tests.browser import launch_chromium

    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def open_portal(browser, live_server, transactional_db):
    from clients.roles import sync_roles

    sync_roles()
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


def issue(live_server, client) -> str:
    response = requests.post(
        f"{live_server.url}/oauth/token",
        auth=(client.client_id, client.secret),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    assert response.status_code == 200
    return response.json()["access_token"]


def test_an_operator_sees_owners_live_tokens_and_usage_and_revokes_one_token(open_portal, live_server):
    # Noon UTC (the clock runs on): the history below stays inside its days whatever time the suite runs at.
    with time_machine.travel(datetime(2026, 11, 29, 12, 0, tzinfo=UTC), tick=True):
        _operator_flow(open_portal, live_server)


def _operator_flow(open_portal, live_server):
    ScopeFactory(name="orders.read")
    billing = ClientFactory(
        name="billing-job", owner="payments team", contact="payments@example.com", scopes=["orders.read"]
    )
    ClientFactory(name="reporting-job", owner="finance", contact="https://chat.example.com/finance")
    ClientFactory(name="legacy-sync")
    # A week of history, most of it already purged: the chart and the counts must not care.
    now = int(timezone.now().timestamp())
    for days_ago, count in ((6, 3), (5, 7), (3, 12), (2, 5), (1, 9)):
        for n in range(count):
            issued = now - days_ago * 86400 - 7200 - n * 60
            AccessTokenFactory(client=billing, issued_at=issued, expires_at=issued + 600)
    AccessToken.objects.purge(now=timezone.now())
    tokens = [issue(live_server, billing) for _ in range(3)]
    page = open_portal(staff("olivia", "Operator"))

    # The list: owner and contact columns, and a filter by owner.
    page.goto("/admin/clients/client/")
    expect(page.locator("th.column-owner")).to_have_count(1)
    expect(page.get_by_role("link", name="payments@example.com")).to_have_attribute(
        "href", "mailto:payments@example.com"
    )
    shot(page, "clients-owners")
    page.locator("#changelist-filter").get_by_role("link", name="payments team").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

    # The client page: the 7-day chart, secrets' last use, and the live tokens (by id, never the token).
    page.get_by_role("link", name="billing-job").click()
    bars = page.locator("svg.gh-bars g")
    expect(bars).to_have_count(7)
    assert [int(n) for n in bars.evaluate_all("gs => gs.map(g => g.dataset.count)")] == [3, 7, 0, 12, 5, 9, 3]
    expect(page.locator("tr.gh-token-row")).to_have_count(3)
    expect(page.locator("td[data-col=issued-24h]")).to_have_text("3")
    body = page.content()
    assert all(token not in body for token in tokens)
    shot(page, "client-tokens")

    # Revoke one token: a confirmation, then it alone stops working.
    doomed = AccessToken.objects.filter(client=billing, revoked_at__isnull=True).order_by("-id").first()
    page.locator(f"tr[data-token-id='{doomed.pk}'] a.gh-retire").click()
    page.get_by_text("It stops working now").wait_for()
    shot(page, "revoke-token-confirm")
    page.get_by_role("button", name="Revoke token").click()
    page.get_by_text(f"Token {doomed.pk} of billing-job is revoked.").wait_for()
    expect(page.locator("tr.gh-token-row")).to_have_count(2)
    assert AccessToken.objects.get(pk=doomed.pk).revoked_at is not None

    # Rotate: the grace defaults to 1 hour; the confirmation says when the current secret was last used.
    page.get_by_role("link", name="Rotate secret").click()
    page.fill("#id_sudo_password", PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_label("1 hour")).to_be_checked()
    page.get_by_role("button", name="Continue").click()
    page.get_by_text("3 tokens in the last 24 h").wait_for()
    shot(page, "rotate-confirm-usage")
    page.get_by_role("link", name="Cancel").click()

    # Retiring the only active secret warns that the client would be locked out.
    page.locator("tr[data-state='active'] a.gh-retire").click()
    page.get_by_text("locks the client out").wait_for()
    shot(page, "retire-lockout")
    assert token_status(live_server, billing.client_id, billing.secret) == 200  # nothing changed yet


def test_the_portal_edges_contrast_wrapping_audit_column_favicon_and_dark_links(open_portal, live_server):
    ScopeFactory(name="payments.ledger.entries.read-write-and-reconcile-with-the-bank-statements-every-night")
    ScopeFactory(name="orders.read")
    page = open_portal(staff("olivia", "Operator"), permissions=["clipboard-read", "clipboard-write"])
    assert page.request.get("/favicon.ico").status == 200

    # A long scope name wraps beside its checkbox, not under it.
    page.goto("/admin/clients/client/add/")
    lines = page.evaluate(
        """() => {
          const label = [...document.querySelectorAll("label")].find((l) => l.textContent.includes("payments.ledger"));
          const box = label.querySelector("input").getBoundingClientRect();
          const text = [...label.childNodes].find((n) => n.nodeType === 3 && n.textContent.trim());
          const range = document.createRange();
          range.selectNodeContents(text);
          return {right: box.right, lefts: [...range.getClientRects()].map((r) => r.left)};
        }"""
    )
    assert len(lines["lefts"]) >= 2  # it does wrap
    assert min(lines["lefts"]) >= lines["right"]  # and every line starts right of the checkbox
    page.fill("#id_name", "billing-job")
    page.fill("#id_owner", "payments team")
    page.fill("#id_contact", "payments@example.com")
    page.get_by_label("orders.read").check()
    shot(page, "register-owner")

    # The curl command on the once-page is readable (WCAG AA: 4.5).
    page.get_by_role("button", name="Register and show the secret").click()
    curl = page.locator("#curl-command")
    assert curl.evaluate(CONTRAST_JS) >= 4.5

    # The audit list's CHANGED column shows all of its text, on a laptop-sized window too.
    page.set_viewport_size({"width": 1024, "height": 760})
    page.goto("/admin/clients/auditevent/")
    cell = page.locator("td.field-summary").first
    fits = cell.evaluate(
        """td => {
          const box = td.getBoundingClientRect(), frame = td.closest(".results").getBoundingClientRect();
          return {inside: box.right <= Math.min(frame.right, window.innerWidth) + 1, whole: td.scrollWidth <= td.clientWidth + 1};
        }"""
    )
    assert fits == {"inside": True, "whole": True}, fits
    expect(page.locator("td.field-actor_type").first).to_have_text("Staff")
    shot(page, "audit-narrow")
    page.set_viewport_size({"width": 1280, "height": 860})

    # Dashboard (a superuser sees the lockout tables): they sit under Security, below the registry.
    from django.contrib.auth.models import User

    root = open_portal(User.objects.create_superuser("sam", password=PASSWORD))
    registry = root.locator("#content-main .app-clients").bounding_box()
    security = root.locator(".gh-security").bounding_box()
    assert registry is not None and security is not None and security["y"] > registry["y"]
    shot(root, "dashboard-security")

    # Links read well in dark mode (the light theme's teal was too dark on the dark background).
    dark = open_portal(staff("dora", "Operator"), color_scheme="dark")
    dark.goto("/admin/clients/client/")
    link = dark.get_by_role("link", name="billing-job")
    assert link.evaluate(CONTRAST_JS) >= 4.5
    shot(dark, "clients-dark")


def test_an_operator_switches_a_client_to_keys_and_back_to_a_secret(open_portal, live_server):
    import json

    from tests import jose

    billing = ClientFactory(name="billing-job")
    token = issue(live_server, billing)
    page = open_portal(staff("olivia", "Operator"))
    page.goto(f"/admin/clients/client/{billing.pk}/change/")

    # To pasted keys: sudo, choose, and a confirmation that says what ends before anything does.
    page.get_by_role("link", name="Switch authentication").click()
    page.fill("#id_sudo_password", PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("private_key_jwt: its public keys, pasted as a JWKS").check()
    page.fill("#id_jwks", json.dumps(jose.public_jwks(jose.ec_key("workload-1"))))
    page.get_by_role("button", name="Continue").click()
    page.get_by_text("Every live token of the client ends now (1 live)").wait_for()
    expect(page.locator(f"li[data-hint='{billing.secret_row.hint}']")).to_contain_text("stops working at once")
    assert token_status(live_server, billing.client_id, billing.secret) == 200  # nothing changed yet
    page.get_by_role("button", name="Switch authentication").click()
    page.get_by_text("billing-job now authenticates by private_key_jwt").wait_for()
    assert token_status(live_server, billing.client_id, billing.secret) == 401
    assert not AccessToken.objects.filter(client=billing, revoked_at__isnull=True).exists()
    assert token not in page.content()

    # Back to a secret: shown once, and it works.
    page.get_by_role("link", name="Switch authentication").click()
    page.get_by_label("client_secret: a new secret, generated by Gatehouse and shown once").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("li[data-kid='workload-1']")).to_contain_text("assertions it signs are refused")
    page.get_by_role("button", name="Switch authentication").click()
    secret = page.locator("#client-secret").inner_text()
    assert token_status(live_server, billing.client_id, secret) == 200
    page.get_by_role("link", name="I have saved the secret: go to the client").click()
    assert secret not in page.content()
