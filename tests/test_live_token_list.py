"""A client's live tokens, listed without the tokens themselves, and revoked one at a time (audited)."""

import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.utils import timezone

from clients.models import AuditEvent
from clients.services import Actor
from tests.factories import ClientFactory
from tokens.models import AccessToken
from tokens.services import token_revoke

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_client_tokens_lists_live_tokens_with_id_scopes_times_secret_and_address(oauth):
    client = ClientFactory(scopes=["read", "write"])
    first = oauth.token(client, scope="read").json()["access_token"]
    oauth.token(client)
    revoked = oauth.token(client).json()["access_token"]
    oauth.revoke(client, revoked)
    data = json.loads(run("client", "tokens", client.client_id, "--json"))
    assert data["client_id"] == client.client_id
    assert [t["scopes"] for t in data["tokens"]] == [["read", "write"], ["read"]]  # newest first, live only
    hint = client.secrets.get().hint
    for token in data["tokens"]:
        assert set(token) == {"id", "scopes", "issued_at", "expires_at", "secret", "key", "minted_by", "address"}
        assert (token["secret"], token["address"]) == (hint, "127.0.0.1")
    row = AccessToken.objects.get(pk=data["tokens"][1]["id"])
    assert row.scope == "read"
    text = run("client", "tokens", client.client_id)
    for output in (json.dumps(data), text):
        assert first not in output and revoked not in output
        assert row.digest not in output and row.digest[:12] not in output


def test_client_tokens_says_when_there_are_none():
    client = ClientFactory()
    assert run("client", "tokens", client.client_id) == f"{client.client_id} has no live tokens\n"


def test_tokens_revoke_ends_one_token_only_and_is_audited(oauth, resource_server):
    client = ClientFactory()
    kept = oauth.token(client).json()["access_token"]
    doomed = oauth.token(client).json()["access_token"]
    doomed_id = AccessToken.objects.order_by("-id").first().pk
    assert run("tokens", "revoke", str(doomed_id)) == f"revoked token {doomed_id}\n"
    assert oauth.introspect(resource_server, doomed).json() == {"active": False}
    assert oauth.introspect(resource_server, kept).json()["active"] is True
    event = AuditEvent.objects.get(action="token.revoke")
    assert (event.client, event.actor_type, event.changes) == (client, "cli", {"token_id": [None, doomed_id]})
    assert run("tokens", "revoke", str(doomed_id)) == f"token {doomed_id} was not live; nothing changed\n"
    assert AuditEvent.objects.filter(action="token.revoke").count() == 1


def test_tokens_revoke_of_an_unknown_id_is_a_one_line_error():
    with pytest.raises(CommandError) as refused:
        run("tokens", "revoke", "999999")
    assert str(refused.value) == "unknown token: 999999"


def test_revoking_through_another_client_is_refused(oauth):
    """The API names the client in the path: a token id of another client is unknown there, not revoked."""
    mine, theirs = ClientFactory(), ClientFactory()
    oauth.token(theirs)
    their_token = AccessToken.objects.get()
    with pytest.raises(AccessToken.DoesNotExist):
        token_revoke(token_id=their_token.pk, client=mine, actor=Actor.cli())
    assert AccessToken.objects.live(timezone.now()).count() == 1


def test_staff_without_the_privilege_cannot_revoke_a_privileged_clients_token(oauth, operator):
    """The grant rule: staff who may not manage a gatehouse:admin client may not end its tokens either."""
    admin_client = ClientFactory(scopes=["gatehouse:admin"])
    oauth.token(admin_client)
    with pytest.raises(PermissionDenied):
        token_revoke(token_id=AccessToken.objects.get().pk, actor=Actor.staff(operator))
    assert AccessToken.objects.live(timezone.now()).count() == 1
    assert not AuditEvent.objects.filter(action="token.revoke").exists()
