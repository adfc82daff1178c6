"""When a secret works: until its end (none until rotated), on every database and at every endpoint; a rotation's
grace or a retirement moves an end earlier, never later. One rule: clients.models.secret_valid_at and end_by."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from clients.models import Client, ClientSecret, end_by, secret_valid_at
from clients.services import Actor, client_rotate_secret, secret_retire
from tests.factories import AccessTokenFactory, ClientFactory

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_the_rule_a_secret_works_until_its_end_and_without_one_until_rotated():
    assert secret_valid_at(None, NOW)
    assert secret_valid_at(NOW + timedelta(seconds=1), NOW)
    assert not secret_valid_at(NOW, NOW)  # the end itself is past
    assert not secret_valid_at(NOW - timedelta(seconds=1), NOW)


def test_the_rule_an_end_never_moves_later():
    assert end_by(None, NOW) == NOW
    assert end_by(NOW + timedelta(days=1), NOW) == NOW
    assert end_by(NOW - timedelta(days=1), NOW) == NOW - timedelta(days=1)


def test_a_secret_in_its_grace_period_authenticates(db):
    client = ClientFactory()
    client.secrets.update(valid_until=timezone.now() + timedelta(hours=1))
    assert Client.objects.authenticate(client.client_id, client.secret, now=timezone.now()).ok


def test_a_secret_past_its_end_is_refused_as_expired_on_every_database(db):
    """SQLite returns the end as a naive datetime: the same rule must read it."""
    client = ClientFactory()
    client.secrets.update(valid_until=timezone.now() - timedelta(seconds=1))
    result = Client.objects.authenticate(client.client_id, client.secret, now=timezone.now())
    assert result.failure == "expired_secret"


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
def test_a_secret_past_its_grace_is_refused_with_401_at_every_endpoint(oauth, service, path):
    """SQLite once answered 500 here."""
    token = AccessTokenFactory(client=service)
    client_rotate_secret(client=service, grace=timedelta(seconds=60), actor=Actor.cli())
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        response = oauth.post(
            path,
            {"grant_type": "client_credentials", "token": token.plaintext},
            auth=(service.client_id, service.secret),
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@time_machine.travel(NOW, tick=False)
def test_a_longer_grace_never_revives_or_extends_a_secret_already_ending(db):
    client = ClientFactory()
    client_rotate_secret(client=client, grace=timedelta(hours=1), actor=Actor.cli())
    first = ClientSecret.objects.get(digest=client.secret_row.digest)
    client_rotate_secret(client=client, grace=timedelta(days=7), actor=Actor.cli())
    first.refresh_from_db()
    assert first.valid_until == NOW + timedelta(hours=1)


@time_machine.travel(NOW, tick=False)
def test_retiring_a_secret_in_grace_ends_it_now_and_state_database_and_model_agree(db):
    client = ClientFactory()
    client_rotate_secret(client=client, grace=timedelta(hours=1), actor=Actor.cli())
    old = ClientSecret.objects.get(digest=client.secret_row.digest)
    assert old.is_valid() and old in client.valid_secrets()
    secret_retire(secret=old, actor=Actor.cli())
    old.refresh_from_db()
    assert old.valid_until == NOW
    assert not old.is_valid() and old not in client.valid_secrets()
    assert not Client.objects.authenticate(client.client_id, client.secret, now=NOW).ok
