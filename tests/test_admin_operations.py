"""The portal answers the questions staff ask: who owns a client, which tokens are live (and ending one), whether
an old secret is still used, how busy a client is; and the small edges of the pages."""

import html
import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from clients.models import AuditEvent, Client
from tests.admin_pages import change_url, register, retire_url, rotate_url
from tests.factories import AccessTokenFactory, ClientFactory, ClientSecretFactory
from tokens.models import AccessToken


def revoke_url(client, token) -> str:
    return reverse("admin:clients_client_revoke_token", args=[client.pk, token.pk])


def test_register_records_owner_and_contact_and_warns_of_a_duplicate_name(operator_http):
    first = ClientFactory(name="billing-job")
    response = register(operator_http, owner="payments", contact="pay@example.com")
    assert response.status_code == 200
    made = Client.objects.exclude(pk=first.pk).get()
    assert (made.owner, made.contact) == ("payments", "pay@example.com")
    assert f"Another client is also named billing-job: {first.client_id}." in response.content.decode()
    page = operator_http.get(change_url(made)).content.decode()
    assert 'data-glance="owner">payments<' in page


def test_a_contact_that_is_neither_email_nor_url_is_refused_on_the_form(operator_http):
    response = register(operator_http, contact="ring bob")
    assert "Enter an email address or an http(s) URL." in response.content.decode()
    assert not Client.objects.exists()


def test_the_list_shows_owner_and_contact_and_filters_by_owner(operator_http):
    ClientFactory(name="billing", owner="payments", contact="https://chat.example.com/payments")
    ClientFactory(name="reports", owner="finance")
    page = operator_http.get("/admin/clients/client/?owner=payments").content.decode()
    assert "billing" in page and "reports" not in page
    assert '<a href="https://chat.example.com/payments" rel="noopener noreferrer">' in page
    assert "?owner=finance" in page  # the filter lists each owner


def test_the_client_page_lists_live_tokens_by_id_never_the_token(operator_http, oauth):
    client = ClientFactory(scopes=["orders.read"])
    token = oauth.token(client).json()["access_token"]
    row = AccessToken.objects.get()
    page = operator_http.get(change_url(client)).content.decode()
    assert f'data-token-id="{row.pk}"' in page
    assert "127.0.0.1" in page and client.secret_row.hint in page
    assert token not in page and row.digest[:12] not in page
    assert revoke_url(client, row) in page


def test_revoking_one_token_from_the_portal_ends_it_alone_and_is_audited(operator_http, operator, oauth):
    client = ClientFactory()
    oauth.token(client)
    oauth.token(client)
    kept, doomed = AccessToken.objects.order_by("id")
    confirm = operator_http.get(revoke_url(client, doomed)).content.decode()
    assert f"Revoke token <strong>{doomed.pk}</strong>" in confirm
    assert AccessToken.objects.live(timezone.now()).count() == 2  # the GET changes nothing
    response = operator_http.post(revoke_url(client, doomed))
    assert response.status_code == 302
    live = set(AccessToken.objects.live(timezone.now()).values_list("pk", flat=True))
    assert live == {kept.pk}
    event = AuditEvent.objects.get(action="token.revoke")
    assert (event.actor_type, event.actor, event.changes) == (
        "staff",
        operator.username,
        {"token_id": [None, doomed.pk]},
    )


def test_an_auditor_cannot_revoke_a_token(auditor_http, oauth):
    client = ClientFactory()
    oauth.token(client)
    token = AccessToken.objects.get()
    assert auditor_http.post(revoke_url(client, token)).status_code == 403
    assert AccessToken.objects.get().revoked_at is None


def test_secrets_show_last_use_and_tokens_of_the_last_day_that_survive_a_purge(operator_http):
    client = ClientFactory()
    now = int(timezone.now().timestamp())
    for hours_ago in (2, 3, 30):
        AccessTokenFactory(client=client, issued_at=now - hours_ago * 3600, expires_at=now - hours_ago * 3600 + 60)

    def figures():
        page = operator_http.get(change_url(client)).content.decode()
        return (
            re.search(r'data-col="issued-24h">(\d+)<', page).group(1),
            re.search(r'data-glance="issued-24h">(\d+)<', page).group(1),
            re.findall(r'data-count="(\d+)"', page),
        )

    before = figures()
    assert before[:2] == ("2", "2") and sum(map(int, before[2])) == 3
    # Purged as a purge two days on would (on PostgreSQL their day partition has ended by then).
    AccessToken.objects.purge(now=timezone.now() + timedelta(days=2))
    assert not AccessToken.objects.exists()
    assert figures() == before


def test_the_rotate_confirmation_says_when_each_secret_was_last_used(operator_http, oauth):
    client = ClientFactory()
    oauth.token(client)
    from tests.admin_pages import once_nonce

    page = operator_http.post(
        rotate_url(client), {"grace": "0", "once": once_nonce(operator_http, rotate_url(client))}
    ).content.decode()
    assert "1 token in the last 24 h" in page and "Last used 20" in page
    assert "Whatever still uses it fails from now on." in page


def test_the_retire_confirmation_warns_before_locking_the_client_out(operator_http):
    client = ClientFactory()
    only = operator_http.get(retire_url(client, client.secret_row)).content.decode()
    assert "only active secret. Retiring it locks the client out" in only
    assert "Last used never; 0 tokens issued with it" in only
    client.secret_row.valid_until = timezone.now() + timedelta(hours=1)
    client.secret_row.save()
    newer = ClientSecretFactory(client=client, valid_until=None)
    other = operator_http.get(retire_url(client, newer)).content.decode()
    assert "locks the client out" not in other


def test_the_rotate_form_defaults_to_an_hour_of_grace(operator_http):
    page = operator_http.get(rotate_url(ClientFactory())).content.decode()
    assert re.search(r'<input type="radio" name="grace" value="3600"[^>]* checked', page)
    assert not re.search(r'value="0"[^>]* checked', page)


def test_breadcrumb_reads_registry_then_clients(operator_http):
    page = operator_http.get("/admin/clients/client/").content.decode()
    crumbs = re.sub(r"<[^>]+>", " ", page.split('class="breadcrumbs"', 1)[1].split("</div>", 1)[0])
    assert " ".join(html.unescape(crumbs).split()).lstrip("> ") == "Home › Registry › Clients"


def test_messages_keep_a_client_name_as_written(operator_http):
    client = ClientFactory(name="invoice-worker")
    response = operator_http.post(reverse("admin:clients_client_confirm", args=[client.pk, "disable"]), follow=True)
    assert "invoice-worker is disabled" in response.content.decode()


def test_actor_types_read_cli_and_api(operator_http):
    AuditEvent.objects.create(actor_type="cli", actor="root", action="client.create", target="x")
    AuditEvent.objects.create(actor_type="api", actor="gth_ci_x", action="client.create", target="y")
    page = operator_http.get("/admin/clients/auditevent/").content.decode()
    assert ">CLI<" in page and ">API<" in page
    assert ">Cli<" not in page and ">Api<" not in page


def test_dates_have_one_format_with_a_time_zone(operator_http):
    client = ClientFactory()
    page = operator_http.get(change_url(client)).content.decode()
    listing = operator_http.get("/admin/clients/client/").content.decode()
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
    assert stamp.search(page) and stamp.search(listing)
    assert not re.search(r"(a\.m\.|p\.m\.|midnight|noon)", page + listing)


def test_the_dashboard_puts_the_login_lockout_tables_under_security_below_the_registry(operator_http, admin_client):
    page = admin_client.get("/admin/").content.decode()
    registry, security = page.index("Registry"), page.index("Security: staff login attempts")
    assert registry < security
    assert page.index("app-axes") > security
