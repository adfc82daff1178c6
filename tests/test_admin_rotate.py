"""Rotating a secret in the staff portal: choose a grace period, confirm, see the new secret once."""

from datetime import UTC, datetime, timedelta

import time_machine

from clients.models import AuditEvent, Client
from tests.admin_pages import change_url, once_nonce, rotate, rotate_url, shown_secret
from tests.factories import ClientFactory

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_rotate_page_offers_the_grace_choices(operator_http):
    client = ClientFactory()
    page = operator_http.get(rotate_url(client)).content.decode()
    for value in ("0", "3600", "86400", "604800", "custom"):
        assert f'value="{value}"' in page


def test_choosing_a_grace_period_asks_for_confirmation_and_changes_nothing(operator_http):
    client = ClientFactory()
    data = {"grace": "86400", "once": once_nonce(operator_http, rotate_url(client))}
    with time_machine.travel(NOW, tick=False):
        response = operator_http.post(rotate_url(client), data)
    page = response.content.decode()
    assert "Confirm rotation" in page
    assert client.secret_row.hint in page and "2026-11-27 12:00" in page
    assert 'name="confirmed" value="yes"' in page
    assert client.secrets.count() == 1 and client.secrets.get().valid_until is None


@time_machine.travel(NOW, tick=False)
def test_confirmed_rotation_shows_a_new_working_secret_and_keeps_the_old_one_for_the_grace(operator_http, operator):
    client = ClientFactory()
    response = rotate(operator_http, client, grace="3600")
    secret = shown_secret(response)
    assert Client.objects.authenticate(client.client_id, secret, now=NOW).ok
    assert Client.objects.authenticate(client.client_id, client.secret, now=NOW).ok
    client.secret_row.refresh_from_db()
    assert client.secret_row.valid_until == NOW + timedelta(hours=1)
    assert "keep working until 2026-11-26 13:00:00" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action="secret.rotate")
    assert (event.actor_type, event.actor, event.client) == ("staff", operator.username, client)


@time_machine.travel(NOW, tick=False)
def test_grace_now_ends_the_old_secret_at_once(operator_http):
    client = ClientFactory()
    rotate(operator_http, client, grace="0")
    assert not Client.objects.authenticate(client.client_id, client.secret, now=NOW).ok


@time_machine.travel(NOW, tick=False)
def test_custom_grace_is_taken_in_the_chosen_unit(operator_http):
    client = ClientFactory()
    rotate(operator_http, client, grace="custom", custom_amount="2", custom_unit="days")
    client.secret_row.refresh_from_db()
    assert client.secret_row.valid_until == NOW + timedelta(days=2)


def test_custom_grace_must_be_given_and_at_most_the_configured_limit(operator_http, settings):
    client = ClientFactory()
    missing = rotate(operator_http, client, grace="custom")
    too_long = rotate(operator_http, client, grace="custom", custom_amount="31", custom_unit="days")
    assert "Enter the custom grace period" in missing.content.decode()
    assert "the grace period can be at most 30 days" in too_long.content.decode()
    settings.GATEHOUSE_MAX_GRACE_SECONDS = 7 * 86400
    page = operator_http.get(rotate_url(client)).content.decode()
    assert "at most 7 days" in page and "30 days" not in page
    refused = rotate(operator_http, client, grace="custom", custom_amount="8", custom_unit="days")
    assert "the grace period can be at most 7 days" in refused.content.decode()
    assert client.secrets.count() == 1


def test_resubmitting_the_confirmation_does_not_rotate_twice(operator_http):
    client = ClientFactory()
    data = {"grace": "3600", "confirmed": "yes", "once": once_nonce(operator_http, rotate_url(client))}
    first = operator_http.post(rotate_url(client), data)
    again = operator_http.post(rotate_url(client), data, follow=True)
    assert client.secrets.count() == 2
    assert again.redirect_chain[-1][0] == change_url(client)
    assert shown_secret(first) not in again.content.decode()


def test_client_page_then_shows_both_secrets_with_their_states(operator_http):
    client = ClientFactory()
    rotate(operator_http, client, grace="86400")
    page = operator_http.get(change_url(client)).content.decode()
    new, old = client.secrets.all()
    assert f'data-hint="{new.hint}" data-state="active"' in page
    assert f'data-hint="{old.hint}" data-state="in grace"' in page


def test_rotation_keeps_issued_tokens_unless_the_box_is_ticked(operator_http, oauth, resource_server):
    client = ClientFactory()
    kept = oauth.token(client).json()["access_token"]
    data = {"grace": "3600", "once": once_nonce(operator_http, rotate_url(client))}
    confirm = operator_http.post(rotate_url(client), data).content.decode()
    assert "(1 live) stay valid until they expire" in confirm
    rotate(operator_http, client, grace="3600")
    assert oauth.introspect(resource_server, kept).json()["active"] is True

    data = {"grace": "3600", "revoke_tokens": "on", "once": once_nonce(operator_http, rotate_url(client))}
    confirm = operator_http.post(rotate_url(client), data).content.decode()
    assert "1 live token(s) are revoked now" in confirm
    assert 'name="revoke_tokens" value="True"' in confirm  # carried to the confirming POST
    rotate(operator_http, client, grace="3600", revoke_tokens="True")
    assert oauth.introspect(resource_server, kept).json() == {"active": False}
    event = AuditEvent.objects.filter(action="secret.rotate").order_by("-id").first()
    assert event.changes["tokens_revoked"] == [None, 1]
