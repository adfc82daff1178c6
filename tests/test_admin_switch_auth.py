"""Switching how a client authenticates in the staff portal (clients.services.client_switch_auth): choose a
secret, keys or a trust and subject, confirm the consequence, and for a secret see it once."""

import html
import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client as HttpClient
from django.utils import timezone

from clients.models import CLIENTS_WRITE, AuditEvent, Client, ClientKey, ClientSecret
from tests import jose
from tests.admin_pages import change_url, once_nonce, shown_secret, switch_auth, switch_url
from tests.conftest import in_sudo_mode
from tests.factories import (
    AccessTokenFactory,
    ClientFactory,
    FederatedClientFactory,
    KeyClientFactory,
    TrustFactory,
)
from tokens.models import AccessToken


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def jwks_text(*keys) -> str:
    return json.dumps(jose.public_jwks(*keys))


def revoked(token) -> bool:
    return AccessToken.objects.get(pk=token.pk).revoked_at is not None


def test_the_client_page_offers_the_switch_to_staff_who_may_rotate(operator_http, auditor_http):
    client = ClientFactory()
    assert switch_url(client) in operator_http.get(change_url(client)).content.decode()
    assert switch_url(client) not in auditor_http.get(change_url(client)).content.decode()


def test_choosing_asks_for_confirmation_that_states_the_consequence_and_changes_nothing(operator_http):
    client = ClientFactory()
    token = AccessTokenFactory(client=client)
    data = {"authentication": "jwks", "jwks": jwks_text(jose.ec_key("new-1"))}
    response = operator_http.post(switch_url(client), {**data, "once": once_nonce(operator_http, switch_url(client))})
    page = page_text(response)
    assert "Confirm the switch" in page and 'name="confirmed" value="yes"' in page
    assert "Every live token of the client ends now (1 live)" in page
    assert f'<li data-hint="{client.secret_row.hint}">' in page and "stops working at once" in page
    assert not revoked(token) and Client.objects.get(pk=client.pk).auth_method == "client_secret"
    assert not AuditEvent.objects.exists()


def test_switching_to_pasted_keys_ends_the_tokens_and_the_secret_and_is_audited(operator_http, operator):
    client = ClientFactory()
    old_secret = client.secret
    token = AccessTokenFactory(client=client)
    response = switch_auth(operator_http, client, "jwks", jwks=jwks_text(jose.ec_key("new-1")))
    assert response.status_code == 302 and response["Location"] == change_url(client)
    client = Client.objects.get(pk=client.pk)
    assert client.auth_method == "private_key_jwt"
    assert list(client.keys.values_list("kid", flat=True)) == ["new-1"]
    assert revoked(token)
    assert not Client.objects.authenticate(client.client_id, old_secret, now=timezone.now()).ok
    event = AuditEvent.objects.get(action="client.switch_auth")
    assert (event.actor_type, event.actor, event.client) == ("staff", operator.username, client)
    assert event.changes["auth_method"] == ["client_secret", "private_key_jwt"]


def test_switching_to_a_jwks_uri(operator_http):
    client = ClientFactory()
    switch_auth(operator_http, client, "jwks_uri", jwks_uri="https://keys.example.com/jwks.json")
    client = Client.objects.get(pk=client.pk)
    assert (client.auth_method, client.jwks_uri) == ("private_key_jwt", "https://keys.example.com/jwks.json")
    assert AuditEvent.objects.filter(action="client.switch_auth").count() == 1


def test_switching_to_federated_retires_the_keys(operator_http):
    client = KeyClientFactory()
    token = AccessTokenFactory(client=client)
    trust = TrustFactory()
    switch_auth(operator_http, client, "trust", trust=trust.name, subject="system:serviceaccount:apps:billing")
    client = Client.objects.get(pk=client.pk)
    assert (client.auth_method, client.trust, client.subject) == (
        "federated",
        trust,
        "system:serviceaccount:apps:billing",
    )
    assert not ClientKey.objects.filter(client=client, retired_at__isnull=True).exists()
    assert revoked(token)
    assert AuditEvent.objects.get(action="client.switch_auth").changes["credentials_retired"] == [["ec-1"], None]


def test_switching_to_a_secret_shows_it_once_and_never_again(operator_http):
    client = FederatedClientFactory()
    token = AccessTokenFactory(client=client)
    nonce = once_nonce(operator_http, switch_url(client))
    data = {"authentication": "generated", "once": nonce, "confirmed": "yes"}
    response = operator_http.post(switch_url(client), data)
    secret = shown_secret(response)
    assert secret.startswith("gth_cs_") and "no-store" in response["Cache-Control"]
    client = Client.objects.get(pk=client.pk)
    assert (client.auth_method, client.trust, client.subject) == ("client_secret", None, "")
    assert Client.objects.authenticate(client.client_id, secret, now=timezone.now()).ok
    assert revoked(token)
    again = operator_http.post(switch_url(client), data, follow=True)
    assert secret not in again.content.decode() and "already submitted" in page_text(again)
    assert secret not in operator_http.get(change_url(client)).content.decode()
    assert ClientSecret.objects.filter(client=client).count() == 1
    assert AuditEvent.objects.filter(action="client.switch_auth").count() == 1
    assert secret not in json.dumps(list(AuditEvent.objects.values_list("changes", flat=True)))


def test_a_private_key_in_the_jwks_is_a_form_error(operator_http):
    client = ClientFactory()
    private = json.dumps({"keys": [jose.ec_key("leak").as_dict(private=True)]})
    response = switch_auth(operator_http, client, "jwks", jwks=private)
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert Client.objects.get(pk=client.pk).auth_method == "client_secret"
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("jwks", ["not json", '{"keys": []}'])
def test_a_bad_jwks_is_a_form_error(operator_http, jwks):
    client = ClientFactory()
    response = switch_auth(operator_http, client, "jwks", jwks=jwks)
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not AuditEvent.objects.exists()


def test_what_the_service_refuses_is_shown_on_the_form(operator_http):
    taken = FederatedClientFactory()
    client = ClientFactory()
    token = AccessTokenFactory(client=client)
    response = switch_auth(operator_http, client, "trust", trust=taken.trust.name, subject=taken.subject)
    assert response.status_code == 200 and 'class="errornote"' in response.content.decode()
    assert "Confirm the switch" not in page_text(response)
    plain = switch_auth(operator_http, client, "jwks_uri", jwks_uri="http://keys.example.com/jwks.json")
    assert plain.status_code == 200 and '<p class="errornote">jwks_uri: ' in page_text(plain)
    assert Client.objects.get(pk=client.pk).auth_method == "client_secret" and not revoked(token)
    assert not AuditEvent.objects.exists()


def test_a_missing_choice_detail_is_a_form_error(operator_http):
    client = ClientFactory()
    response = switch_auth(operator_http, client, "trust", subject="x")
    assert "Required for this way of authenticating." in page_text(response)


@pytest.fixture
def editor_http(db) -> HttpClient:
    """Staff who may edit clients but not rotate their secrets (no clients.rotate_client_secret)."""
    user = User.objects.create_user("eddie", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_client", "change_client"]))
    http = HttpClient()
    http.force_login(user)
    return in_sudo_mode(http)


@pytest.mark.parametrize("who", ["editor_http", "auditor_http"])
def test_staff_without_the_rotate_permission_are_refused(db, request, who):  # db: pytest-django orders by it
    http = request.getfixturevalue(who)
    client = ClientFactory()
    assert http.get(switch_url(client)).status_code == 403
    post = {"authentication": "generated", "confirmed": "yes", "once": "x"}
    assert http.post(switch_url(client), post).status_code == 403
    assert switch_url(client) not in http.get(change_url(client)).content.decode()
    assert Client.objects.get(pk=client.pk).secrets.count() == 1 and not AuditEvent.objects.exists()


@pytest.mark.parametrize("holder", [{"scopes": [CLIENTS_WRITE]}, {"can_introspect": True}])
def test_an_operator_cannot_switch_a_privileged_client(operator_http, holder):
    client = ClientFactory(**holder)
    for response in (
        operator_http.get(switch_url(client), follow=True),
        operator_http.post(switch_url(client), {"authentication": "generated", "confirmed": "yes"}, follow=True),
    ):
        assert "needs the permission to grant gatehouse:* scopes" in page_text(response)
    assert Client.objects.get(pk=client.pk).secrets.count() == 1 and not AuditEvent.objects.exists()


def test_switching_needs_sudo_mode(operator):
    http = HttpClient()
    http.force_login(operator)
    client = ClientFactory()
    held = http.post(switch_url(client), {"authentication": "generated", "confirmed": "yes", "once": "x"})
    assert 'name="sudo_password"' in held.content.decode()
    assert Client.objects.get(pk=client.pk).secrets.count() == 1 and not AuditEvent.objects.exists()


def test_switching_needs_the_csrf_token(operator):
    http = HttpClient(enforce_csrf_checks=True)
    http.force_login(operator)
    in_sudo_mode(http)
    client = ClientFactory()
    assert http.post(switch_url(client), {"authentication": "generated", "confirmed": "yes"}).status_code == 403
    assert not AuditEvent.objects.exists()


def test_the_confirmation_names_the_keys_and_the_binding_that_end(operator_http):
    keyed = KeyClientFactory()
    data = {"authentication": "generated", "once": once_nonce(operator_http, switch_url(keyed))}
    page = page_text(operator_http.post(switch_url(keyed), data))
    assert '<li data-kid="ec-1">' in page and "assertions it signs are refused at once" in page
    bound = FederatedClientFactory()
    data = {"authentication": "jwks_uri", "jwks_uri": "https://keys.example.com/jwks.json"}
    page = page_text(
        operator_http.post(switch_url(bound), {**data, "once": once_nonce(operator_http, switch_url(bound))})
    )
    assert f"The binding to trust {bound.trust.name}" in page.replace("<code>", "").replace("</code>", "")
    assert "the keys at <code>https://keys.example.com/jwks.json</code>" in page
