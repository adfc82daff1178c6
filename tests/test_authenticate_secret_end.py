"""Client authentication reads a secret's end correctly on every database (SQLite returns naive datetimes)."""

from datetime import timedelta

from django.utils import timezone

from clients.models import Client
from tests.factories import ClientFactory


def test_a_secret_in_its_grace_period_authenticates(db):
    client = ClientFactory()
    client.secrets.update(valid_until=timezone.now() + timedelta(hours=1))
    assert Client.objects.authenticate(client.client_id, client.secret, now=timezone.now()).ok


def test_a_secret_past_its_end_is_refused_as_expired(db):
    client = ClientFactory()
    client.secrets.update(valid_until=timezone.now() - timedelta(seconds=1))
    result = Client.objects.authenticate(client.client_id, client.secret, now=timezone.now())
    assert result.failure == "expired_secret"
