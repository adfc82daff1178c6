"""The admin index is Gatehouse's dashboard; the secrets list shows which secrets end soon."""

from datetime import UTC, datetime, timedelta

import time_machine

from tests.admin_pages import register
from tests.factories import AccessTokenFactory, ClientFactory, ClientSecretFactory

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def stat(page: str, name: str) -> str:
    marker = f'data-stat="{name}">'
    return page.split(marker, 1)[1].split("<", 1)[0]


@time_machine.travel(NOW, tick=False)
def test_dashboard_counts_clients_recent_tokens_and_secrets_ending_soon(auditor_http):
    active = ClientFactory()
    ClientFactory(is_active=False)
    now = int(NOW.timestamp())
    AccessTokenFactory(client=active, issued_at=now - 60)
    AccessTokenFactory(client=active, issued_at=now - 3 * 86400, expires_at=now - 3 * 86400 + 3600)
    ClientSecretFactory(client=active, valid_until=NOW + timedelta(days=6))
    ClientSecretFactory(client=active, valid_until=NOW + timedelta(days=8))
    page = auditor_http.get("/admin/").content.decode()
    assert [stat(page, n) for n in ("clients", "active", "disabled", "tokens_24h", "expiring")] == [
        "2",
        "1",
        "1",
        "1",
        "1",
    ]


def test_the_header_is_branded(auditor_http):
    page = auditor_http.get("/admin/").content.decode()
    assert "<title>Dashboard | Gatehouse</title>" in page
    assert "gatehouse/admin.css" in page and "staff portal" in page


def test_the_index_lists_recent_audit_events(operator_http):
    register(operator_http, name="billing-job")
    assert "client.create" in operator_http.get("/admin/").content.decode()


@time_machine.travel(NOW, tick=False)
def test_secrets_list_filters_those_ending_within_7_days(auditor_http):
    client = ClientFactory(name="billing-job")
    soon = ClientSecretFactory(client=client, valid_until=NOW + timedelta(days=2))
    later = ClientSecretFactory(client=client, valid_until=NOW + timedelta(days=20))
    retired = ClientSecretFactory(client=client, valid_until=NOW + timedelta(days=1), retired_at=NOW)
    page = auditor_http.get("/admin/clients/clientsecret/?ends_within=7d").content.decode()
    assert soon.hint in page
    assert later.hint not in page and retired.hint not in page and client.secret_row.hint not in page
    assert "billing-job" in page and "gh-badge-in-grace" in page
