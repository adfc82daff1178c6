"""Retire one secret, disable, enable and revoke all tokens: a confirmation page first, then a POST."""

from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from clients.models import AuditEvent, Client, ClientSecret
from tests.admin_pages import change_url, confirm_url, retire_url
from tests.factories import AccessTokenFactory, ClientFactory, ClientSecretFactory
from tokens.models import AccessToken


def live_tokens(client) -> int:
    return AccessToken.objects.live(timezone.now()).filter(client=client).count()


def test_retire_confirmation_names_the_secret_and_changes_nothing(operator_http):
    client = ClientFactory()
    page = operator_http.get(retire_url(client, client.secret_row)).content.decode()
    assert client.secret_row.hint in page and "only active secret" in page
    client.secret_row.refresh_from_db()
    assert client.secret_row.retired_at is None


def test_retiring_ends_that_secret_only(operator_http, operator):
    client = ClientFactory()
    other = ClientSecretFactory(client=client, valid_until=timezone.now() + timedelta(days=1))
    response = operator_http.post(retire_url(client, client.secret_row))
    assert response.status_code == 302 and response["Location"] == change_url(client)
    retired = ClientSecret.objects.get(pk=client.secret_row.pk)
    assert retired.state() == ClientSecret.State.RETIRED and retired.retired_by == operator.username
    assert ClientSecret.objects.get(pk=other.pk).is_valid()
    assert AuditEvent.objects.get(action="secret.retire").actor == operator.username


def test_retiring_another_clients_secret_is_not_found(operator_http):
    client, stranger = ClientFactory(), ClientFactory()
    assert operator_http.post(retire_url(client, stranger.secret_row)).status_code == 404
    assert stranger.secret_row.is_valid()


def test_disable_confirmation_states_that_live_tokens_are_revoked(operator_http):
    client = ClientFactory()
    AccessTokenFactory.create_batch(2, client=client)
    page = operator_http.get(confirm_url(client, "disable")).content.decode()
    assert "2 live token(s) are revoked now" in page
    assert Client.objects.get(pk=client.pk).is_active and live_tokens(client) == 2


def test_disabling_revokes_live_tokens_and_is_audited(operator_http, operator):
    client = ClientFactory()
    AccessTokenFactory.create_batch(2, client=client)
    response = operator_http.post(confirm_url(client, "disable"))
    assert response["Location"] == change_url(client)
    assert not Client.objects.get(pk=client.pk).is_active and live_tokens(client) == 0
    event = AuditEvent.objects.get(action="client.disable")
    assert (event.actor_type, event.actor, event.changes["tokens_revoked"]) == ("staff", operator.username, [None, 2])


def test_enabling_a_disabled_client(operator_http):
    client = ClientFactory(is_active=False)
    assert "stay revoked" in operator_http.get(confirm_url(client, "enable")).content.decode()
    operator_http.post(confirm_url(client, "enable"))
    assert Client.objects.get(pk=client.pk).is_active
    assert AuditEvent.objects.filter(action="client.enable").exists()


def test_revoking_all_tokens_keeps_the_client_enabled(operator_http):
    client = ClientFactory()
    AccessTokenFactory.create_batch(3, client=client)
    response = operator_http.post(confirm_url(client, "revoke-tokens"), follow=True)
    assert "3 live token(s) of" in response.content.decode()
    assert live_tokens(client) == 0 and Client.objects.get(pk=client.pk).is_active


def test_an_unknown_action_is_not_found(operator_http):
    assert operator_http.post(confirm_url(ClientFactory(), "delete")).status_code == 404


@pytest.mark.parametrize("action", ["disable", "revoke-tokens"])
def test_state_changes_need_the_csrf_token(operator, action):
    client = ClientFactory()
    AccessTokenFactory(client=client)
    http = HttpClient(enforce_csrf_checks=True)
    http.force_login(operator)
    assert http.post(confirm_url(client, action)).status_code == 403
    assert Client.objects.get(pk=client.pk).is_active and live_tokens(client) == 1


def test_retiring_needs_the_csrf_token(operator):
    client = ClientFactory()
    http = HttpClient(enforce_csrf_checks=True)
    http.force_login(operator)
    assert http.post(retire_url(client, client.secret_row)).status_code == 403
    assert client.secret_row.is_valid()


def test_retiring_in_the_portal_ends_the_tokens_that_secret_issued(operator_http, oauth, resource_server):
    client = ClientFactory()
    leaked = oauth.token(client).json()["access_token"]
    other = ClientSecretFactory(client=client, valid_until=timezone.now() + timedelta(days=1))
    client.secret = other.plaintext
    kept = oauth.token(client).json()["access_token"]
    page = operator_http.get(retire_url(client, client.secret_row)).content.decode()
    assert "1 live token(s) issued with it are revoked now" in page
    response = operator_http.post(retire_url(client, client.secret_row), follow=True)
    assert "the tokens it issued are revoked" in response.content.decode()
    assert oauth.introspect(resource_server, leaked).json() == {"active": False}
    assert oauth.introspect(resource_server, kept).json()["active"] is True
