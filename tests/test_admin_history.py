"""The audit trail is the portal's one history: no Django LogEntry beside it, and HISTORY opens the audit events."""

import re

from django.contrib.admin.models import LogEntry
from django.urls import reverse

from clients.models import AuditEvent, Client, Scope
from tests.admin_pages import change_url, register, rotate
from tests.factories import ClientFactory, ScopeFactory


def rows(page: str) -> list[str]:
    """The actions in the audit list's rows, newest first."""
    return re.findall(r'<td class="field-action">([^<]+)</td>', page)


def history(http, model: str, pk: int):
    return http.get(reverse(f"admin:clients_{model}_history", args=[pk]), follow=True)


def test_portal_changes_write_audit_events_and_no_django_log_entries(operator_http):
    register(operator_http, name="billing-job")
    client = Client.objects.get(name="billing-job")
    operator_http.post(change_url(client), {"name": "billing", "description": "", "token_ttl": "600"})
    rotate(operator_http, client)
    operator_http.post("/admin/clients/scope/add/", {"name": "orders.read", "description": "Read orders"})
    scope = Scope.objects.get(name="orders.read")
    operator_http.post(reverse("admin:clients_scope_delete", args=[scope.pk]), {"post": "yes"})
    assert not Scope.objects.filter(name="orders.read").exists()
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == [
        "client.create",
        "client.update",
        "scope.create",
        "scope.delete",
        "secret.rotate",
    ]
    assert LogEntry.objects.count() == 0


def test_history_of_a_client_made_in_the_portal_shows_its_audit_events(operator_http):
    register(operator_http, name="billing-job")
    client = Client.objects.get(name="billing-job")
    rotate(operator_http, client)
    other = ClientFactory(name="orders-api")
    AuditEvent.objects.create(actor_type="cli", actor="root", action="client.disable", client=other)

    page = history(operator_http, "client", client.pk)
    assert page.status_code == 200
    body = page.content.decode()
    assert "doesn’t have a change history" not in body and "doesn't have a change history" not in body
    assert rows(body) == ["secret.rotate", "client.create"]  # not the other client's event


def test_history_of_a_scope_and_of_a_secret(operator_http, auditor_http):
    operator_http.post("/admin/clients/scope/add/", {"name": "orders.read", "description": "Read orders"})
    scope = Scope.objects.get(name="orders.read")
    assert rows(history(auditor_http, "scope", scope.pk).content.decode()) == ["scope.create"]
    client = ClientFactory()
    rotate(operator_http, client)
    assert rows(history(auditor_http, "clientsecret", client.secret_row.pk).content.decode()) == ["secret.rotate"]


def test_history_of_a_client_one_cannot_see_is_not_found(db, client):
    target = ClientFactory()
    ScopeFactory()
    from django.contrib.auth.models import User

    nobody = User.objects.create_user("nobody", password="x", is_staff=True)  # staff without any permission
    client.force_login(nobody)
    response = client.get(reverse("admin:clients_client_history", args=[target.pk]))
    assert response.status_code in (403, 404)
