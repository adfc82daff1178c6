"""The write services: rotation, retirement, disabling, scopes, and the audit event each one leaves."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from clients.models import AuditEvent, ClientSecret
from clients.services import (
    Actor,
    ScopeInUse,
    client_create,
    client_disable,
    client_enable,
    client_revoke_tokens,
    client_rotate_secret,
    client_update,
    scope_create,
    scope_delete,
    scope_update,
    secret_retire,
)
from tests.factories import AccessTokenFactory, ClientFactory, ClientSecretFactory, ScopeFactory
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db
CLI = Actor("cli", "ops")


def test_client_create_stores_a_digest_and_a_hint_never_the_secret():
    ScopeFactory(name="read")
    new = client_create(name="job", scopes=["read"], actor=CLI)
    secret = ClientSecret.objects.get(client=new.client)
    assert new.plaintext.startswith("gth_cs_")
    assert secret.digest != new.plaintext and len(secret.digest) == 64
    assert secret.hint == new.plaintext[:7] + "…" + new.plaintext[-4:]
    assert secret.created_by == "ops"
    assert new.client.token_ttl == 3600
    event = AuditEvent.objects.get(action="client.create")
    assert event.actor == "ops" and event.client == new.client
    assert event.changes["scopes"] == [None, ["read"]]
    assert new.plaintext not in str(event.changes)


def test_client_create_with_unknown_scope_creates_nothing():
    with pytest.raises(ValidationError, match="unknown scope: nope"):
        client_create(name="job", scopes=["nope"], actor=CLI)
    assert not ClientSecret.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("ttl", [0, -1, 86401])
def test_token_ttl_out_of_range_is_refused(ttl):
    with pytest.raises(ValidationError):
        client_create(name="job", token_ttl=ttl, actor=CLI)


def test_default_token_ttl_comes_from_settings(settings):
    settings.GATEHOUSE_DEFAULT_TOKEN_TTL = 900
    assert client_create(name="job", actor=CLI).client.token_ttl == 900


def test_rotation_keeps_previous_secret_for_the_grace_period():
    client = ClientFactory()
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        new = client_rotate_secret(client=client, grace=timedelta(hours=24), actor=CLI)
    old = ClientSecret.objects.get(pk=client.secret_row.pk)
    assert old.valid_until == now + timedelta(hours=24)
    assert new.previous_secret_expires_at == now + timedelta(hours=24)
    assert new.secret.valid_until is None
    assert old.state(now) == ClientSecret.State.IN_GRACE
    assert old.state(now + timedelta(hours=25)) == ClientSecret.State.EXPIRED
    event = AuditEvent.objects.get(action="secret.rotate")
    assert event.changes["grace_seconds"] == [None, 86400]


def test_rotation_with_zero_grace_ends_previous_secret_at_once():
    client = ClientFactory()
    client_rotate_secret(client=client, grace=timedelta(0), actor=CLI)
    assert not ClientSecret.objects.get(pk=client.secret_row.pk).is_valid()


def test_rotation_never_moves_an_end_later():
    client = ClientFactory()
    client_rotate_secret(client=client, grace=timedelta(hours=1), actor=CLI)
    first_end = ClientSecret.objects.get(pk=client.secret_row.pk).valid_until
    client_rotate_secret(client=client, grace=timedelta(days=7), actor=CLI)
    assert ClientSecret.objects.get(pk=client.secret_row.pk).valid_until == first_end
    assert client.valid_secrets().count() == 3


def test_rotation_can_move_an_end_earlier():
    client = ClientFactory()
    client_rotate_secret(client=client, grace=timedelta(days=7), actor=CLI)
    client_rotate_secret(client=client, grace=timedelta(0), actor=CLI)
    assert client.valid_secrets().count() == 1


def test_negative_grace_is_refused():
    with pytest.raises(ValidationError):
        client_rotate_secret(client=ClientFactory(), grace=timedelta(seconds=-1), actor=CLI)


def test_rotation_keeps_issued_tokens_valid():
    client = ClientFactory()
    token = AccessTokenFactory(client=client)
    client_rotate_secret(client=client, grace=timedelta(0), actor=CLI)
    assert AccessToken.objects.live(timezone.now()).filter(pk=token.pk).exists()


def test_retire_ends_one_secret_and_leaves_the_others():
    client = ClientFactory()
    new = client_rotate_secret(client=client, grace=timedelta(days=1), actor=CLI)
    secret_retire(secret=client.secret_row, actor=CLI)
    old = ClientSecret.objects.get(pk=client.secret_row.pk)
    assert old.state() == ClientSecret.State.RETIRED
    assert old.retired_by == "ops"
    assert ClientSecret.objects.get(pk=new.secret.pk).state() == ClientSecret.State.ACTIVE
    assert AuditEvent.objects.filter(action="secret.retire", client=client).exists()


def test_disable_revokes_live_tokens_and_enable_does_not_bring_them_back():
    client = ClientFactory()
    token = AccessTokenFactory(client=client)
    client_disable(client=client, actor=CLI)
    token.refresh_from_db()
    assert token.revoked_at is not None
    client_enable(client=client, actor=CLI)
    assert not AccessToken.objects.live(timezone.now()).exists()
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("id")) == [
        "client.disable",
        "client.enable",
    ]


def test_revoke_tokens_counts_only_live_ones():
    client = ClientFactory()
    AccessTokenFactory(client=client)
    AccessTokenFactory(client=client, issued_at=0, expires_at=10)
    AccessTokenFactory()
    assert client_revoke_tokens(client=client, actor=CLI) == 1
    assert AuditEvent.objects.get(action="client.revoke_tokens").changes == {"tokens_revoked": [None, 1]}


def test_update_records_before_and_after_of_changed_fields_only():
    ScopeFactory(name="read")
    client = ClientFactory(name="old", scopes=["write"])
    client_update(client=client, actor=CLI, name="new", description="", scopes=["read"])
    event = AuditEvent.objects.get(action="client.update")
    assert event.changes == {"name": ["old", "new"], "scopes": [["write"], ["read"]], "tokens_revoked": [None, 0]}


def test_update_without_changes_writes_no_event():
    client = ClientFactory(name="same")
    client_update(client=client, actor=CLI, name="same")
    assert not AuditEvent.objects.exists()


def test_scope_lifecycle_and_deletion_refused_while_in_use():
    scope = scope_create(name="orders.read", description="Read orders", actor=CLI)
    scope_update(scope=scope, description="Read all orders", actor=CLI)
    holder = ClientFactory(name="billing", scopes=[scope])
    with pytest.raises(ScopeInUse, match="billing"):
        scope_delete(scope=scope, actor=CLI)
    holder.scopes.clear()
    scope_delete(scope=scope, actor=CLI)
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("id")) == [
        "scope.create",
        "scope.update",
        "scope.delete",
    ]


@pytest.mark.parametrize("name", ["has space", 'quote"', "back\\slash", "", "x" * 129, "caf\u00e9"])
def test_scope_names_follow_rfc6749(name):
    with pytest.raises(ValidationError):
        scope_create(name=name, actor=CLI)


def test_database_refuses_bad_scope_names_too():
    with pytest.raises(IntegrityError):
        ScopeFactory(name="has space")


def test_database_allows_only_one_open_ended_secret_per_client():
    client = ClientFactory()
    with pytest.raises(IntegrityError):
        ClientSecretFactory(client=client)


def test_last_used_survives_the_purge():
    client = ClientFactory()
    token = AccessTokenFactory(client=client, issued_at=1_000, expires_at=2_000)
    assert client.secret_row.last_used().timestamp() == 1_000
    assert AccessToken.objects.purge(now=timezone.now()) == 1
    assert not AccessToken.objects.filter(pk=token.pk).exists()
    assert ClientSecret.objects.get(pk=client.secret_row.pk).last_used().timestamp() == 1_000
