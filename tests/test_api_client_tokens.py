"""/api/v1/clients/{client_id}/tokens/: a client's live tokens (never the tokens), and revoking one of them."""

from clients.models import AuditEvent
from tests.api import ADMIN, READ, WRITE, assert_error
from tests.factories import ClientFactory
from tokens.models import AccessToken


def _url(client, rest=""):
    return f"/api/v1/clients/{client.client_id}/tokens/{rest}"


def test_lists_live_tokens_without_the_tokens(api, oauth):
    api.login(READ)
    target = ClientFactory(scopes=["read", "write"])
    token = oauth.token(target, scope="read").json()["access_token"]
    revoked = oauth.token(target).json()["access_token"]
    oauth.revoke(target, revoked)
    response = api.get(_url(target))
    assert response.status_code == 200
    body = response.json()
    row = AccessToken.objects.get(scope="read")
    assert body["results"] == [
        {
            "id": row.pk,
            "scopes": ["read"],
            "issued_at": body["results"][0]["issued_at"],
            "expires_at": body["results"][0]["expires_at"],
            "secret": target.secrets.get().hint,
            "key": None,
            "minted_by": target.secrets.get().hint,
            "address": "127.0.0.1",
        }
    ]
    assert body["count"] == 1
    text = response.content.decode()
    assert token not in text and revoked not in text and row.digest[:16] not in text


def test_listing_needs_clients_read(api):
    api.login(WRITE)
    assert_error(api.get(_url(ClientFactory())), 403, "insufficient_scope")


def test_revoke_one_token_ends_it_alone_and_is_audited(api, oauth, resource_server):
    writer = api.login(WRITE)
    target = ClientFactory()
    kept = oauth.token(target).json()["access_token"]
    doomed = oauth.token(target).json()["access_token"]
    doomed_id = AccessToken.objects.order_by("-id").first().pk
    response = api.post(_url(target, f"{doomed_id}/revoke/"))
    assert response.status_code == 200
    assert response.json() == {"id": doomed_id, "revoked": True}
    assert oauth.introspect(resource_server, doomed).json() == {"active": False}
    assert oauth.introspect(resource_server, kept).json()["active"] is True
    event = AuditEvent.objects.get(action="token.revoke")
    assert (event.actor_type, event.actor, event.client) == ("api", writer.client_id, target)
    again = api.post(_url(target, f"{doomed_id}/revoke/"))
    assert again.json() == {"id": doomed_id, "revoked": False}


def test_another_clients_token_id_is_not_found_under_this_client(api, oauth):
    """The attack: revoke a victim's token through a client the caller may manage, by guessing ids."""
    api.login(WRITE)
    mine, victim = ClientFactory(), ClientFactory()
    oauth.token(victim)
    victim_token = AccessToken.objects.get(client=victim)
    assert_error(api.post(_url(mine, f"{victim_token.pk}/revoke/")), 404, "not_found")
    assert AccessToken.objects.get(client=victim).revoked_at is None


def test_a_caller_cannot_revoke_tokens_of_a_client_it_may_not_manage(api, oauth):
    """The grant rule: a writer without gatehouse:admin may not end an admin client's tokens."""
    api.login(WRITE)
    admin_client = ClientFactory(scopes=[ADMIN])
    oauth.token(admin_client)
    row = AccessToken.objects.get(client=admin_client)
    assert_error(api.post(_url(admin_client, f"{row.pk}/revoke/")), 403, "scope_not_held")
    assert AccessToken.objects.get(pk=row.pk).revoked_at is None


def test_unknown_token_id_is_a_404(api):
    api.login(WRITE)
    assert_error(api.post(_url(ClientFactory(), "999999/revoke/")), 404, "not_found")
