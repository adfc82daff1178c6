"""/api/v1/clients/{client_id}/...: disable, enable, rotate, list and retire secrets, revoke tokens."""

import time_machine
from django.utils import timezone

from clients.models import AuditEvent
from tests.api import READ, WRITE, assert_error
from tests.factories import AccessTokenFactory, ClientFactory, ClientSecretFactory
from tokens.models import AccessToken

URL = "/api/v1/clients/"


def _url(client, action=""):
    return f"{URL}{client.client_id}/{action}"


def test_disable_revokes_live_tokens_and_stops_new_ones(api, oauth):
    writer = api.login(WRITE)
    target = ClientFactory()
    token = AccessTokenFactory(client=target)
    response = api.post(_url(target, "disable/"))
    assert response.status_code == 200 and response.json()["status"] == "disabled"
    assert AccessToken.objects.get(pk=token.pk).revoked_at is not None
    assert oauth.token(target).status_code == 401
    event = AuditEvent.objects.get(action="client.disable")
    assert (event.actor_type, event.actor) == ("api", writer.client_id)


def test_enable_lets_a_disabled_client_back_in(api, oauth):
    writer = api.login(WRITE)
    target = ClientFactory(is_active=False)
    response = api.post(_url(target, "enable/"))
    assert response.status_code == 200 and response.json()["status"] == "active"
    assert oauth.token(target).status_code == 200
    assert AuditEvent.objects.get(action="client.enable").actor == writer.client_id


def test_rotate_returns_a_new_secret_and_keeps_the_old_one_for_the_grace_period(api, oauth):
    writer = api.login(WRITE)
    target = ClientFactory()
    old_secret = target.secret
    response = api.post(_url(target, "rotate/"), {"grace_seconds": 600})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["client_id"] == target.client_id
    assert body["client_secret"].startswith("gth_cs_") and body["client_secret"] != old_secret
    assert body["secret"]["state"] == "active" and body["previous_secret_expires_at"]
    target.secret = body["client_secret"]
    assert oauth.token(target).status_code == 200
    target.secret = old_secret
    assert oauth.token(target).status_code == 200
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=601)):
        assert oauth.token(target).status_code == 401
    event = AuditEvent.objects.get(action="secret.rotate")
    assert event.actor == writer.client_id
    assert body["client_secret"] not in str(event.changes)


def test_rotate_without_a_body_ends_the_old_secret_now(api, oauth):
    api.login(WRITE)
    target = ClientFactory()
    assert api.post(_url(target, "rotate/")).status_code == 200
    assert oauth.token(target).status_code == 401


def test_rotate_refuses_a_bad_grace_period(api):
    api.login(WRITE)
    target = ClientFactory()
    for grace in (-1, "later", 10**9, 10**30):
        body = assert_error(api.post(_url(target, "rotate/"), {"grace_seconds": grace}), 400, "invalid_request")
        assert "grace_seconds" in body["fields"]
    too_long = api.post(_url(target, "rotate/"), {"grace_seconds": 30 * 86400 + 1}).json()
    assert too_long["fields"]["grace_seconds"] == ["the grace period can be at most 30 days"]
    assert target.secrets.count() == 1


def test_secrets_lists_metadata_only(api):
    api.login(READ)
    target = ClientFactory()
    retired = ClientSecretFactory(client=target, valid_until=timezone.now(), retired_at=timezone.now())
    AccessTokenFactory(client=target, secret=target.secret_row)
    response = api.get(_url(target, "secrets/"))
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()}
    assert set(rows[target.secret_row.pk]) == {
        "id",
        "hint",
        "state",
        "created_at",
        "created_by",
        "valid_until",
        "retired_at",
        "retired_by",
        "last_used_at",
    }
    assert rows[target.secret_row.pk]["state"] == "active" and rows[target.secret_row.pk]["last_used_at"]
    assert rows[retired.pk]["state"] == "retired"
    assert rows[target.secret_row.pk]["hint"] == target.secret_row.hint
    text = response.content.decode()
    assert target.secret not in text and target.secret_row.digest not in text


def test_secrets_of_an_unknown_client_is_not_found(api):
    api.login(READ)
    assert_error(api.get(f"{URL}gth_ci_nobody/secrets/"), 404, "not_found")


def test_retire_ends_one_secret_and_leaves_the_others(api, oauth):
    writer = api.login(WRITE)
    target = ClientFactory()
    spare = ClientSecretFactory(client=target, valid_until=timezone.now() + timezone.timedelta(hours=1))
    response = api.post(_url(target, f"secrets/{target.secret_row.pk}/retire/"))
    assert response.status_code == 200 and response.json()["state"] == "retired"
    assert oauth.token(target).status_code == 401
    target.secret = spare.plaintext
    assert oauth.token(target).status_code == 200
    assert AuditEvent.objects.get(action="secret.retire").actor == writer.client_id


def test_retire_of_another_clients_secret_is_not_found(api):
    api.login(WRITE)
    target, other = ClientFactory(), ClientFactory()
    assert_error(api.post(_url(target, f"secrets/{other.secret_row.pk}/retire/")), 404, "not_found")
    assert other.secret_row.is_valid()


def test_revoke_tokens_revokes_every_live_token(api):
    writer = api.login(WRITE)
    target = ClientFactory()
    AccessTokenFactory.create_batch(2, client=target)
    response = api.post(_url(target, "revoke-tokens/"))
    assert response.status_code == 200 and response.json() == {"tokens_revoked": 2}
    assert not AccessToken.objects.live(timezone.now()).filter(client=target).exists()
    assert AuditEvent.objects.get(action="client.revoke_tokens").actor == writer.client_id


def test_actions_on_an_unknown_client_are_not_found(api):
    api.login(WRITE)
    for action in ("disable/", "enable/", "rotate/", "revoke-tokens/", "secrets/1/retire/"):
        assert_error(api.post(f"{URL}gth_ci_nobody/{action}"), 404, "not_found")
