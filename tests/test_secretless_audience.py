"""Issues 13, 14 and 15 together: clients without a secret get the same grant, audience and use accounting as
secret clients. RFC 8707 `resource` with private_key_jwt and federated clients, the audience rule for a resource
server's introspector that authenticates by private_key_jwt, and key-minted tokens in live-token lists and issuance
counts after a purge."""

import secrets
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from clients.models import ClientKey
from tests import jose
from tests.api import READ
from tests.factories import (
    ClientFactory,
    FederatedClientFactory,
    KeyClientFactory,
    ResourceServerFactory,
    ScopeFactory,
    TrustFactory,
)
from tokens import usage
from tokens.models import AccessToken, IssuanceCount

pytestmark = pytest.mark.django_db

ISSUER = "http://127.0.0.1:8000"
ORDERS = "https://orders.example.com"
BILLING = "https://billing.example.com"


@pytest.fixture
def world(db):
    orders = ResourceServerFactory(identifier=ORDERS, name="Orders")
    billing = ResourceServerFactory(identifier=BILLING, name="Billing")
    ScopeFactory(name="orders.read", resource_server=orders)
    ScopeFactory(name="billing.read", resource_server=billing)
    ScopeFactory(name="profile")
    return orders, billing


def post(oauth, path, assertion, *resources, **form):
    pairs = [*jose.assertion_form(assertion, **form).items(), *(("resource", r) for r in resources)]
    return oauth.post(path, urlencode(pairs), content_type="application/x-www-form-urlencoded")


def key_assertion(client) -> str:
    return jose.sign(client.private_key, jose.claims_for(client.client_id, ISSUER))


def federated_assertion(client) -> str:
    now = int(time.time())
    claims = {
        "iss": client.trust.issuer,
        "sub": client.subject,
        "aud": client.trust.audience,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    return jose.sign(client.trust.signing_key, claims)


def mint_with_key(oauth, client, *resources, **form):
    return post(oauth, "/oauth/token", key_assertion(client), *resources, grant_type="client_credentials", **form)


def test_a_private_key_jwt_client_gets_a_token_for_one_resource_server(oauth, world):
    client = KeyClientFactory(scopes=["orders.read", "billing.read", "profile"])
    response = mint_with_key(oauth, client, ORDERS)
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "orders.read profile"
    token = AccessToken.objects.get()
    assert (token.audience, token.scope_resources, token.key_id) == (ORDERS, f"{ORDERS} *", client.key_row.pk)
    assert token.address == "127.0.0.1"


def test_a_private_key_jwt_client_without_resource_gets_every_granted_resource_server(oauth, world):
    client = KeyClientFactory(scopes=["orders.read", "billing.read"])
    assert mint_with_key(oauth, client).status_code == 200
    assert AccessToken.objects.get().audience == f"{BILLING} {ORDERS}"


def test_a_private_key_jwt_client_naming_a_resource_it_holds_no_scope_of_is_invalid_target(oauth, world):
    client = KeyClientFactory(scopes=["orders.read"])
    response = mint_with_key(oauth, client, ORDERS, BILLING)
    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": "invalid_target",
        "error_description": f"not a resource server this client may get a token for: {BILLING}",
    }
    assert not AccessToken.objects.exists()
    response = mint_with_key(oauth, client, "https://unknown.example.com")
    assert response.json()["error"] == "invalid_target"


def test_a_malformed_resource_from_a_private_key_jwt_client_is_invalid_target(oauth, world):
    client = KeyClientFactory(scopes=["orders.read"])
    response = mint_with_key(oauth, client, "not a uri")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_a_scope_of_another_resource_server_than_the_one_named_is_invalid_scope(oauth, world):
    client = KeyClientFactory(scopes=["orders.read", "billing.read"])
    response = mint_with_key(oauth, client, ORDERS, scope="billing.read")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_a_federated_client_gets_a_token_for_one_resource_server(oauth, world):
    client = FederatedClientFactory(trust=TrustFactory(), scopes=["orders.read", "billing.read"])
    assertion = federated_assertion(client)
    response = post(oauth, "/oauth/token", assertion, BILLING, grant_type="client_credentials")
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "billing.read"
    token = AccessToken.objects.get()
    assert (token.audience, token.secret_id, token.key_id) == (BILLING, None, None)


def test_the_assertion_token_path_with_resources_keeps_its_statement_count(oauth, world, django_assert_num_queries):
    # As test_private_key_jwt pins it: the client's keys, then (PostgreSQL) one statement for jti and token.
    client = KeyClientFactory(scopes=["orders.read", "billing.read"])
    assertion = key_assertion(client)
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
        response = post(oauth, "/oauth/token", assertion, ORDERS, BILLING, grant_type="client_credentials")
    assert response.status_code == 200


def test_a_resource_servers_introspector_using_private_key_jwt_sees_only_tokens_for_it(oauth, world):
    orders, _ = world
    shop = ClientFactory(scopes=["orders.read", "billing.read", "profile"])
    billing_token = oauth.token(shop, resource=BILLING).json()["access_token"]
    orders_token = oauth.token(shop, resource=ORDERS).json()["access_token"]
    introspector = KeyClientFactory(can_introspect=True, resource_server=orders)

    seen = post(oauth, "/oauth/introspect", key_assertion(introspector), token=billing_token)
    assert seen.status_code == 200, seen.content
    assert seen.json() == {"active": False}

    seen = post(oauth, "/oauth/introspect", key_assertion(introspector), token=orders_token).json()
    assert seen["active"] is True
    assert (seen["aud"], seen["scope"]) == (ORDERS, "orders.read profile")


def test_a_global_introspector_using_private_key_jwt_sees_the_whole_audience(oauth, world):
    shop = ClientFactory(scopes=["orders.read", "billing.read"])
    token = oauth.token(shop).json()["access_token"]
    gateway = KeyClientFactory(can_introspect=True)
    seen = post(oauth, "/oauth/introspect", key_assertion(gateway), token=token).json()
    assert seen["active"] is True
    assert seen["scope"] == "billing.read orders.read"
    assert seen["aud"] == [BILLING, ORDERS]


def test_a_retired_resource_servers_introspector_using_private_key_jwt_sees_nothing(oauth, world):
    orders, _ = world
    shop = ClientFactory(scopes=["profile"])
    token = oauth.token(shop).json()["access_token"]
    introspector = KeyClientFactory(can_introspect=True, resource_server=orders)
    orders.retired_at = timezone.now()
    orders.save()
    assert post(oauth, "/oauth/introspect", key_assertion(introspector), token=token).json() == {"active": False}


def test_key_minted_tokens_are_listed_live_and_counted_after_a_purge(oauth, world, settings):
    client = KeyClientFactory(scopes=["orders.read"], token_ttl=60)
    federated = FederatedClientFactory(trust=TrustFactory(), scopes=["orders.read"], token_ttl=60)
    # The start of the next hour: every step below falls in that one hour, whatever the clock reads now.
    start = (timezone.now() + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            assert mint_with_key(oauth, client).status_code == 200
        federated_response = post(
            oauth, "/oauth/token", federated_assertion(federated), grant_type="client_credentials"
        )
        assert federated_response.status_code == 200
        live = list(usage.live_tokens(client, start))
        assert [usage.describe_token(t)["minted_by"] for t in live] == [f"key:{client.key_row.kid}"] * 3
        assert [usage.describe_token(t)["secret"] for t in live] == [None] * 3
        (fed,) = usage.live_tokens(federated, start)
        assert usage.describe_token(fed)["minted_by"] == "federated"
        assert usage.issued_since(client, start - timedelta(hours=1)) == 3

    # Two days on, so that on PostgreSQL the tokens' day partition has ended and the purge drops it.
    later = start + timedelta(days=2)
    since = start - timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        assert list(usage.live_tokens(client, later)) == []
        call_command("tokens", "purge")
        assert not AccessToken.objects.exists()
        # Counted per client (no secret), the key's last use kept.
        assert usage.issued_since(client, since) == 3
        assert usage.issued_since(federated, since) == 1
        assert usage.issued_since(None, since) == 4
        assert sum(day.count for day in usage.daily_issuance(client, later)) == 3
        assert ClientKey.objects.get(pk=client.key_row.pk).last_used_at is not None
        assert IssuanceCount.objects.filter(client=client, secret__isnull=True).get().count == 3

    # A token of the same hour purged later adds to the same counter (the per-client upsert).
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        assert mint_with_key(oauth, client).status_code == 200
    with time_machine.travel(later, tick=False):
        call_command("tokens", "purge")
        assert IssuanceCount.objects.filter(client=client, secret__isnull=True).count() == 1
        assert usage.issued_since(client, since) == 4


def test_the_api_lists_a_key_minted_token(oauth, world, api):
    api.login(READ)
    client = KeyClientFactory(scopes=["orders.read"])
    assert mint_with_key(oauth, client, ORDERS).status_code == 200
    response = api.get(f"/api/v1/clients/{client.client_id}/tokens/")
    assert response.status_code == 200, response.content
    (row,) = response.json()["results"]
    assert (row["secret"], row["key"], row["minted_by"]) == (None, client.key_row.kid, f"key:{client.key_row.kid}")


def test_the_client_page_lists_key_minted_tokens_and_counts_them(oauth, world, operator_http):
    client = KeyClientFactory(scopes=["orders.read"])
    assert mint_with_key(oauth, client).status_code == 200
    token = AccessToken.objects.get()
    page = operator_http.get(f"/admin/clients/client/{client.pk}/change/").content.decode()
    assert '<dd data-glance="live-tokens">1</dd>' in page
    assert f'data-token-id="{token.pk}"' in page
    assert f"<code>key:{client.key_row.kid}</code>" in page
    # The revoke confirmation names the key, not a secret.
    confirm = operator_http.get(f"/admin/clients/client/{client.pk}/tokens/{token.pk}/revoke/").content.decode()
    assert f"key <code>{client.key_row.kid}</code>" in confirm


def test_client_show_and_tokens_name_the_key(oauth, world):
    from io import StringIO

    client = KeyClientFactory(scopes=["orders.read"])
    assert mint_with_key(oauth, client).status_code == 200
    out = StringIO()
    call_command("client", "show", client.client_id, stdout=out)
    text = out.getvalue()
    assert "auth_method:" in text and "private_key_jwt" in text
    assert "keys:" in text and client.key_row.kid in text
    out = StringIO()
    call_command("client", "tokens", client.client_id, stdout=out)
    assert f"key:{client.key_row.kid}" in out.getvalue()
