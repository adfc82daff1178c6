"""The audit trail in the staff portal: browsable and filterable, read-only for everyone."""

from datetime import UTC, datetime

from django.contrib.auth.models import User
from django.test import Client as HttpClient

from clients.models import AuditEvent, Client
from tests.admin_pages import register, rotate, shown_secret
from tests.factories import AuditEventFactory, ClientFactory


def test_events_are_filtered_by_action_actor_type_client_and_date(auditor_http):
    billing, orders = ClientFactory(name="billing-job"), ClientFactory(name="orders-api")
    AuditEventFactory(action="client.disable", actor_type="staff", actor="olivia", client=billing, target="t-disable")
    AuditEventFactory(action="secret.rotate", actor_type="cli", actor="root", client=orders, target="t-rotate")
    AuditEventFactory(action="scope.create", actor_type="staff", at=datetime(2025, 1, 2, tzinfo=UTC), target="t-old")

    def shown(query: str) -> set[str]:
        page = auditor_http.get(f"/admin/clients/auditevent/?{query}").content.decode()
        return {t for t in ("t-disable", "t-rotate", "t-old") if t in page}

    assert shown("") == {"t-disable", "t-rotate", "t-old"}
    assert shown("action=client.disable") == {"t-disable"}
    assert shown("actor_type__exact=cli") == {"t-rotate"}
    assert shown(f"client__id__exact={orders.pk}") == {"t-rotate"}
    assert shown("at__year=2025") == {"t-old"}


def test_an_event_shows_who_from_where_and_before_after(auditor_http):
    event = AuditEventFactory(
        actor_type="staff", actor="olivia", address="10.1.2.3", changes={"token_ttl": [3600, 600]}
    )
    page = auditor_http.get(f"/admin/clients/auditevent/{event.pk}/change/").content.decode()
    assert "olivia" in page and "10.1.2.3" in page
    assert "<th>token_ttl</th><td>3600</td><td>600</td>" in page


def test_nobody_can_add_change_or_delete_events_not_even_a_superuser(db):
    event = AuditEventFactory(actor="olivia")
    http = HttpClient()
    http.force_login(User.objects.create_superuser("root"))
    assert http.get("/admin/clients/auditevent/add/").status_code == 403
    assert http.post(f"/admin/clients/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    http.post(f"/admin/clients/auditevent/{event.pk}/change/", {"actor": "mallory"})
    event.refresh_from_db()
    assert event.actor == "olivia" and AuditEvent.objects.count() == 1
    page = http.get(f"/admin/clients/auditevent/{event.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert "delete_selected" not in http.get("/admin/clients/auditevent/").content.decode()


def test_portal_changes_never_put_a_secret_in_the_trail(operator_http):
    first = shown_secret(register(operator_http, name="billing-job"))
    client = Client.objects.get(name="billing-job")
    second = shown_secret(rotate(operator_http, client, grace="3600"))
    trail = str(list(AuditEvent.objects.values()))
    assert first not in trail and second not in trail
    assert {e.action for e in AuditEvent.objects.all()} == {"client.create", "secret.rotate"}
