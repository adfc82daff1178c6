"""Who may do what in the staff portal: staff only; view, change and rotate are separate permissions."""

from django.contrib.auth.models import Permission, User
from django.test import Client as HttpClient

from clients.models import AuditEvent, Client, Scope
from tests.admin_pages import ADD_URL, change_url, confirm_url, retire_url, rotate_url
from tests.factories import AccessTokenFactory, AuditEventFactory, ClientFactory, ScopeFactory


def logged_in(user) -> HttpClient:
    http = HttpClient()
    http.force_login(user)
    return http


def staff_with(*codenames: str) -> HttpClient:
    user = User.objects.create_user("custom", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="clients", codename__in=codenames))
    return logged_in(user)


def test_anonymous_visitors_are_sent_to_the_login_page(db):
    client = ClientFactory()
    for url in ("/admin/", change_url(client), rotate_url(client), ADD_URL):
        response = HttpClient().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_user_who_is_not_staff_cannot_reach_the_portal(db):
    client = ClientFactory()
    user = User.objects.create_user("outsider")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="clients"))
    http = logged_in(user)
    assert http.get(change_url(client)).status_code == 302
    assert http.post(confirm_url(client, "disable")).status_code == 302
    assert Client.objects.get(pk=client.pk).is_active


def test_an_auditor_sees_clients_secrets_scopes_and_audit(auditor_http):
    client = ClientFactory(scopes=["read"])
    AuditEventFactory(client=client)
    for url in (
        "/admin/clients/client/",
        change_url(client),
        "/admin/clients/clientsecret/",
        "/admin/clients/scope/",
        "/admin/clients/auditevent/",
    ):
        assert auditor_http.get(url).status_code == 200, url


def test_an_auditor_is_offered_no_change(auditor_http):
    client = ClientFactory()
    page = auditor_http.get(change_url(client)).content.decode()
    assert client.secret_row.hint in page
    for link in (rotate_url(client), confirm_url(client, "disable"), retire_url(client, client.secret_row)):
        assert link not in page
    assert 'name="_save"' not in page
    assert ADD_URL not in auditor_http.get("/admin/clients/client/").content.decode()


def test_an_auditor_cannot_change_anything_even_by_posting_directly(auditor_http):
    client = ClientFactory()
    AccessTokenFactory(client=client)
    scope = ScopeFactory(name="read")
    refused = [
        auditor_http.get(rotate_url(client)),
        auditor_http.post(rotate_url(client), {"grace": "0", "confirmed": "yes", "once": "x"}),
        auditor_http.post(retire_url(client, client.secret_row)),
        auditor_http.post(confirm_url(client, "disable")),
        auditor_http.post(confirm_url(client, "revoke-tokens")),
        auditor_http.post(confirm_url(client, "enable")),
        auditor_http.get(ADD_URL),
        auditor_http.post(ADD_URL, {"name": "sneaky", "token_ttl": "60"}),
        auditor_http.post(change_url(client), {"name": "renamed", "token_ttl": "60"}),
        auditor_http.post("/admin/clients/scope/add/", {"name": "new"}),
        auditor_http.post(f"/admin/clients/scope/{scope.pk}/delete/", {"post": "yes"}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    client.refresh_from_db()
    assert client.is_active and client.name != "renamed" and client.secrets.count() == 1
    assert not Scope.objects.filter(name="new").exists() and Scope.objects.filter(pk=scope.pk).exists()
    assert Client.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_rotating_needs_the_rotate_permission_not_the_change_permission(db):
    client = ClientFactory()
    changer = staff_with("view_client", "change_client")
    assert changer.post(retire_url(client, client.secret_row)).status_code == 403
    assert changer.get(rotate_url(client)).status_code == 403
    assert changer.post(confirm_url(client, "revoke-tokens")).status_code == 302


def test_a_rotator_without_change_permission_can_rotate_but_not_disable(db):
    client = ClientFactory()
    rotator = staff_with("view_client", "rotate_client_secret")
    page = rotator.get(change_url(client)).content.decode()
    assert rotate_url(client) in page and confirm_url(client, "disable") not in page
    assert rotator.get(rotate_url(client)).status_code == 200
    assert rotator.post(confirm_url(client, "disable")).status_code == 403


def test_without_the_add_permission_nobody_registers(db):
    http = staff_with("view_client", "change_client", "rotate_client_secret")
    assert http.get(ADD_URL).status_code == 403


def test_clients_are_never_deleted_in_the_portal_not_even_by_a_superuser(db):
    client = ClientFactory()
    http = logged_in(User.objects.create_superuser("root"))
    assert http.post(f"/admin/clients/client/{client.pk}/delete/", {"post": "yes"}).status_code == 403
    assert "delete_selected" not in http.get("/admin/clients/client/").content.decode()
    assert Client.objects.filter(pk=client.pk).exists()
