"""A client's page at a glance, editing through the service, and finding clients in the list."""

from datetime import UTC, datetime, timedelta

import time_machine

from clients.models import AuditEvent, Client
from tests.admin_pages import change_url
from tests.factories import AccessTokenFactory, ClientFactory, ClientSecretFactory, ScopeFactory

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
def test_the_client_page_shows_scopes_secrets_and_token_activity(operator_http):
    client = ClientFactory(name="billing-job", scopes=["orders.read", "orders.write"], created_by="olivia")
    old = ClientSecretFactory(client=client, valid_until=NOW + timedelta(hours=5), created_by="cli:root")
    expired = ClientSecretFactory(client=client, valid_until=NOW - timedelta(days=1))
    retired = ClientSecretFactory(client=client, valid_until=NOW, retired_at=NOW, retired_by="olivia")
    issued = int(NOW.timestamp()) - 600
    AccessTokenFactory(client=client, secret=old, issued_at=issued)
    AccessTokenFactory(client=client, secret=old, issued_at=issued - 7200, expires_at=issued - 3600)
    page = operator_http.get(change_url(client)).content.decode()
    assert "orders.read" in page and "orders.write" in page and "gh-badge-active" in page
    assert f'data-hint="{client.secret_row.hint}" data-state="active"' in page
    assert f'data-hint="{old.hint}" data-state="in grace"' in page
    assert f'data-hint="{expired.hint}" data-state="expired"' in page
    assert f'data-hint="{retired.hint}" data-state="retired"' in page
    assert "2026-11-26 17:00" in page  # the grace secret's end
    assert "cli:root" in page and "by olivia" in page
    assert '<dd data-glance="live-tokens">1</dd>' in page
    assert "2026-11-26 11:50" in page  # last used / last token issued


def test_a_disabled_client_is_marked_disabled(operator_http):
    client = ClientFactory(is_active=False)
    assert "gh-badge-disabled" in operator_http.get(change_url(client)).content.decode()


def test_editing_a_client_goes_through_the_service_with_before_and_after(operator_http, operator):
    client = ClientFactory(name="billing-job", scopes=["read"], token_ttl=3600)
    write = ScopeFactory(name="write")
    form = {"name": "billing", "description": "", "scopes": [write.pk], "token_ttl": "600"}
    response = operator_http.post(change_url(client), form)
    assert response.status_code == 302
    client = Client.objects.get(pk=client.pk)
    assert (client.name, client.token_ttl, client.scope_names()) == ("billing", 600, ["write"])
    event = AuditEvent.objects.get(action="client.update")
    assert event.actor == operator.username
    assert event.changes == {
        "name": ["billing-job", "billing"],
        "token_ttl": [3600, 600],
        "scopes": [["read"], ["write"]],
        "tokens_revoked": [None, 0],
    }


def test_the_change_form_has_no_secret_field(operator_http):
    page = operator_http.get(change_url(ClientFactory())).content.decode()
    assert 'name="secret' not in page and 'name="digest' not in page


def listed(http, query: str) -> str:
    return http.get(f"/admin/clients/client/?{query}").content.decode()


def test_clients_are_found_by_name_or_client_id(operator_http):
    billing, orders = ClientFactory(name="billing-job"), ClientFactory(name="orders-api")
    by_name = listed(operator_http, "q=billing")
    assert billing.client_id in by_name and orders.client_id not in by_name
    by_id = listed(operator_http, f"q={orders.client_id}")
    assert orders.client_id in by_id and billing.client_id not in by_id


def test_clients_are_filtered_by_status_scope_and_introspection(operator_http):
    active = ClientFactory(scopes=["read"])
    disabled = ClientFactory(is_active=False)
    resource_server = ClientFactory(can_introspect=True)
    read = active.scopes.get()
    only_disabled = listed(operator_http, "status=disabled")
    assert disabled.client_id in only_disabled and active.client_id not in only_disabled
    by_scope = listed(operator_http, f"scopes__id__exact={read.pk}")
    assert active.client_id in by_scope and disabled.client_id not in by_scope
    introspecting = listed(operator_http, "can_introspect__exact=1")
    assert resource_server.client_id in introspecting and active.client_id not in introspecting
