"""Registering a client in the staff portal: the secret is shown once, in the answer to the POST, and never again."""

import html

from django.contrib.messages import get_messages
from django.utils import timezone

from clients.models import AuditEvent, Client
from tests.admin_pages import ADD_URL, change_url, once_nonce, register, shown_secret
from tests.factories import ScopeFactory


def test_register_form_has_no_field_to_type_a_secret(operator_http):
    page = operator_http.get(ADD_URL).content.decode()
    assert 'name="name"' in page
    assert "secret" not in " ".join(line for line in page.splitlines() if "<input" in line and "name=" in line)


def test_registering_creates_the_client_with_its_scopes_and_shows_a_working_secret_once(operator_http):
    ScopeFactory(name="orders.write")
    scope = ScopeFactory(name="orders.read")
    response = register(operator_http, name="billing-job", scopes=[scope.pk], token_ttl="600")
    assert response.status_code == 200
    client = Client.objects.get(name="billing-job")
    assert client.scope_names() == ["orders.read"]
    assert not client.can_introspect and client.token_ttl == 600
    secret = shown_secret(response)
    page = html.unescape(response.content.decode())
    assert client.client_id in page
    assert "cannot be shown again" in page
    curl = (
        f'curl -s -u "{client.client_id}:{secret}" -d grant_type=client_credentials http://127.0.0.1:8000/oauth/token'
    )
    assert curl in page
    assert Client.objects.authenticate(client.client_id, secret, now=timezone.now()).ok
    assert "no-store" in response["Cache-Control"]


def test_registering_is_audited_as_the_staff_user_with_the_address(operator_http, operator):
    register(operator_http, name="billing-job")
    event = AuditEvent.objects.get(action="client.create")
    assert (event.actor_type, event.actor, event.address) == ("staff", operator.username, "127.0.0.1")
    assert event.client == Client.objects.get(name="billing-job")
    assert Client.objects.get().created_by == operator.username


def test_the_secret_is_kept_nowhere_and_not_shown_on_the_client_page(operator_http):
    response = register(operator_http, name="billing-job")
    secret = shown_secret(response)
    client = Client.objects.get()
    assert secret not in str(dict(operator_http.session))
    assert all(secret not in str(m) for m in get_messages(response.wsgi_request))
    assert all(secret not in str(e.changes) for e in AuditEvent.objects.all())
    assert client.secrets.get().hint in operator_http.get(change_url(client)).content.decode()
    for url in (change_url(client), "/admin/clients/client/", "/admin/clients/auditevent/", "/admin/"):
        assert secret not in operator_http.get(url).content.decode()


def test_resubmitting_the_form_neither_registers_twice_nor_shows_a_secret(operator_http):
    data = {"name": "billing-job", "token_ttl": "3600", "once": once_nonce(operator_http, ADD_URL)}
    first = operator_http.post(ADD_URL, data)
    again = operator_http.post(ADD_URL, data, follow=True)
    assert Client.objects.count() == 1
    assert again.redirect_chain[-1][0] == change_url(Client.objects.get())
    assert shown_secret(first) not in again.content.decode()
    assert "already submitted" in again.content.decode()


def test_a_form_without_a_known_nonce_is_refused(operator_http):
    response = operator_http.post(ADD_URL, {"name": "billing-job", "token_ttl": "3600", "once": "forged"})
    assert response.status_code == 200
    assert "This form has expired" in response.content.decode()
    assert not Client.objects.exists()


def test_invalid_values_are_shown_back_and_register_nothing(operator_http):
    response = register(operator_http, name="", token_ttl="0")
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"name", "token_ttl"}
    assert not Client.objects.exists()
