"""A change that reduces a client's authority is in force when it commits, for every token already issued.

One rule says what a live token is (tokens.models.LIVE_TOKEN_SQL and AccessTokenManager.live): introspection,
the management API's bearer check, the revoking UPDATEs, the portal's counts and the live-token metric all
apply it, so they can never disagree. The races (tokens minted while the change commits) are attacked in
tests/test_authority_races.py against a live server on PostgreSQL.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clients.models import AuditEvent, Client, ClientSecret
from clients.services import (
    Actor,
    client_disable,
    client_enable,
    client_revoke_tokens,
    client_rotate_secret,
    client_update,
    secret_retire,
)
from ops.metrics import LiveTokens
from tests.admin_pages import change_url
from tests.api import READ, WRITE, assert_error
from tests.factories import AccessTokenFactory, ClientFactory, ScopeFactory
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db
CLI = Actor.cli()


def readers(oauth, resource_server, token) -> dict[str, bool]:
    """Whether each reader of the rule sees the token as live."""
    now = timezone.now()
    return {
        "introspection": oauth.introspect(resource_server, token.plaintext).json()["active"],
        "bearer": AccessToken.objects.bearer(token.plaintext, now=now) is not None,
        "live()": AccessToken.objects.live(now).filter(pk=token.pk).exists(),
    }


def live_metric() -> float:
    return next(iter(LiveTokens().collect())).samples[0].value


def _revoke(token):
    AccessToken.objects.filter(pk=token.pk).update(revoked_at=1)


def _expire(token):
    AccessToken.objects.filter(pk=token.pk).update(expires_at=1)


def _disable_client_only(token):
    Client.objects.filter(pk=token.client_id).update(is_active=False)


def _raise_generation(token):
    Client.objects.filter(pk=token.client_id).update(generation=token.generation + 1)


def _retire_secret_only(token):
    """Retired, but its tokens not revoked: what a token minted while the retirement committed looks like."""
    now = timezone.now()
    ClientSecret.objects.filter(pk=token.secret_id).update(retired_at=now, valid_until=now)


@pytest.mark.parametrize(
    "end", [_revoke, _expire, _disable_client_only, _raise_generation, _retire_secret_only], ids=lambda f: f.__name__
)
def test_every_reader_applies_the_same_rule(oauth, resource_server, end):
    token = AccessTokenFactory(client=ClientFactory(scopes=[READ]), scope=READ)
    other = AccessTokenFactory()  # untouched: keeps the metric honest
    assert set(readers(oauth, resource_server, token).values()) == {True}
    assert live_metric() == 2
    end(token)
    assert readers(oauth, resource_server, token) == {"introspection": False, "bearer": False, "live()": False}
    assert live_metric() == 1
    assert AccessToken.objects.live(timezone.now()).get() == other


def test_a_token_of_a_secret_that_ended_by_rotation_stays_live(oauth, resource_server):
    """Rotating keeps issued tokens: only retiring a secret (or asking) ends them."""
    client = ClientFactory()
    token = AccessTokenFactory(client=client)
    client_rotate_secret(client=client, grace=timedelta(0), actor=CLI)
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        assert oauth.token(client).status_code == 401  # the secret has ended
        assert set(readers(oauth, resource_server, token).values()) == {True}


# Finding 2: removing a scope leaves it in live tokens.
@pytest.fixture
def pipeline(api):
    """A pipeline client holding the writer scope, with a live token that carries it."""
    ScopeFactory(name="orders.read")
    return api.login(READ, WRITE, "orders.read")


def test_removing_a_scope_ends_the_clients_live_tokens_at_once(api, pipeline, oauth, resource_server):
    assert api.post("/api/v1/clients/", {"name": "before"}).status_code == 201
    client_update(client=pipeline, actor=CLI, scopes=[READ, "orders.read"])  # an admin removes the writer scope
    # The stolen or leftover token can no longer create, rotate or grant anything, nor even read...
    for response in (
        api.post("/api/v1/clients/", {"name": "after"}),
        api.post(f"/api/v1/clients/{pipeline.client_id}/rotate/", {}),
        api.patch(f"/api/v1/clients/{pipeline.client_id}/", {"scopes": [READ, WRITE, "orders.read"]}),
        api.get("/api/v1/clients/"),
    ):
        assert_error(response, 401, "invalid_token")
    # ...and resource servers no longer see the removed scope in it.
    assert oauth.introspect(resource_server, api.token).json() == {"active": False}
    assert pipeline.scope_names() == [READ, "orders.read"]
    event = AuditEvent.objects.get(action="client.update")
    assert event.changes["tokens_revoked"] == [None, 1]
    # A new token carries what the client holds now.
    fresh = oauth.token(pipeline).json()
    assert fresh["scope"] == f"{READ} orders.read"
    assert oauth.introspect(resource_server, fresh["access_token"]).json()["scope"] == f"{READ} orders.read"


def test_adding_a_scope_or_changing_other_fields_ends_no_token(oauth, resource_server):
    ScopeFactory(name="orders.write")
    client = ClientFactory(scopes=["orders.read"])
    token = AccessTokenFactory(client=client, scope="orders.read")
    client_update(client=client, actor=CLI, scopes=["orders.read", "orders.write"], name="renamed", token_ttl=60)
    assert set(readers(oauth, resource_server, token).values()) == {True}
    assert "tokens_revoked" not in AuditEvent.objects.get(action="client.update").changes


def test_raising_token_ttl_does_not_lengthen_issued_tokens(oauth, resource_server):
    client = ClientFactory(token_ttl=60)
    token = oauth.token(client).json()["access_token"]
    client_update(client=client, actor=CLI, token_ttl=86400)
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert oauth.introspect(resource_server, token).json() == {"active": False}


# Finding 3: retiring a leaked secret leaves the tokens minted with it live.
def test_retiring_a_secret_ends_the_tokens_it_minted_and_only_those(api, oauth, resource_server):
    client = ClientFactory(scopes=[READ])
    leaked = client.secret_row
    stolen = oauth.token(client).json()["access_token"]
    new = client_rotate_secret(client=client, grace=timedelta(hours=1), actor=CLI)
    client.secret = new.plaintext
    kept = oauth.token(client).json()["access_token"]

    secret_retire(secret=leaked, actor=CLI)

    assert oauth.introspect(resource_server, stolen).json() == {"active": False}
    assert_error(api.get("/api/v1/clients/", token=stolen), 401, "invalid_token")
    assert oauth.introspect(resource_server, kept).json()["active"] is True
    assert api.get("/api/v1/clients/", token=kept).status_code == 200
    assert AuditEvent.objects.get(action="secret.retire").changes["tokens_revoked"] == [None, 1]


# Finding 4 (without the race): disabling ends every token; enabling revives none.
def test_disable_then_enable_revives_no_token(oauth, resource_server):
    client = ClientFactory()
    tokens = [oauth.token(client).json()["access_token"] for _ in range(3)]
    client_disable(client=client, actor=CLI)
    client_enable(client=client, actor=CLI)
    assert [oauth.introspect(resource_server, t).json() for t in tokens] == [{"active": False}] * 3
    assert AuditEvent.objects.get(action="client.disable").changes["tokens_revoked"] == [None, 3]
    assert oauth.introspect(resource_server, oauth.token(client).json()["access_token"]).json()["active"] is True


def test_a_token_stored_with_the_old_generation_is_dead_even_unrevoked(oauth, resource_server):
    """What a token whose INSERT raced a change looks like: not revoked, but issued under the old generation."""
    client = ClientFactory()
    racing = AccessTokenFactory(client=client)  # generation 0
    client_revoke_tokens(client=client, actor=CLI)
    racing.refresh_from_db()
    AccessToken.objects.filter(pk=racing.pk).update(revoked_at=None)  # as if the revoking UPDATE had not seen it
    assert readers(oauth, resource_server, racing) == {"introspection": False, "bearer": False, "live()": False}


def test_rotation_keeps_issued_tokens_unless_asked(oauth, resource_server):
    client = ClientFactory()
    kept = oauth.token(client).json()["access_token"]
    client_rotate_secret(client=client, grace=timedelta(hours=1), actor=CLI)
    assert oauth.introspect(resource_server, kept).json()["active"] is True
    new = client_rotate_secret(client=client, grace=timedelta(hours=1), actor=CLI, revoke_tokens=True)
    assert new.tokens_revoked == 1
    assert oauth.introspect(resource_server, kept).json() == {"active": False}
    event = AuditEvent.objects.filter(action="secret.rotate").order_by("-id").first()
    assert event.changes["tokens_revoked"] == [None, 1]
    # The secrets in grace still work, and their new tokens are live: only the issued tokens ended.
    assert oauth.introspect(resource_server, oauth.token(client).json()["access_token"]).json()["active"] is True


def test_rotating_through_the_api_with_revoke_tokens(api, oauth, resource_server):
    api.login(READ, WRITE)
    client = ClientFactory()
    kept = oauth.token(client).json()["access_token"]
    body = api.post(f"/api/v1/clients/{client.client_id}/rotate/", {"grace_seconds": 60}).json()
    assert body["tokens_revoked"] == 0
    assert oauth.introspect(resource_server, kept).json()["active"] is True
    body = api.post(f"/api/v1/clients/{client.client_id}/rotate/", {"revoke_tokens": True}).json()
    assert body["tokens_revoked"] == 1
    assert oauth.introspect(resource_server, kept).json() == {"active": False}
    assert_error(
        api.post(f"/api/v1/clients/{client.client_id}/rotate/", {"revoke_tokens": "yes"}), 400, "invalid_request"
    )


def test_the_client_page_counts_live_tokens_by_the_same_rule(operator_http):
    client = ClientFactory()
    AccessTokenFactory(client=client)
    AccessTokenFactory(client=client, generation=client.generation - 1)  # ended by an earlier change
    page = operator_http.get(change_url(client)).content.decode()
    assert '<dd data-glance="live-tokens">1</dd>' in page
