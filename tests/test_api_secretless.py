"""The management API offers what the command line does for secretless clients: keys pasted as a JWKS or a URI,
key history, retiring a key, switching the method, and trusts with a test that fetches the issuer's keys."""

import pytest

from clients.models import AuditEvent, Client, ClientKey
from tests import jose
from tests.api import ADMIN, READ, WRITE
from tests.factories import AccessTokenFactory, ClientFactory, KeyClientFactory, TrustFactory
from tests.issuer import LocalIssuer
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db


def test_create_with_a_jwks_issues_no_secret(api):
    api.login(WRITE)
    key = jose.ec_key("api-1")
    response = api.post("/api/v1/clients/", {"name": "worker", "jwks": jose.public_jwks(key)})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["client_secret"] is None
    assert body["auth_method"] == "private_key_jwt"
    client = Client.objects.get(client_id=body["client_id"])
    assert list(client.keys.values_list("kid", flat=True)) == ["api-1"]
    assert not client.secrets.exists()


def test_create_with_a_private_key_is_refused_and_nothing_is_made(api):
    api.login(WRITE)
    response = api.post("/api/v1/clients/", {"name": "w", "jwks": {"keys": [jose.ec_key().as_dict(private=True)]}})
    assert response.status_code == 400
    assert "private key material" in response.json()["fields"]["jwks"][0]
    assert not Client.objects.filter(name="w").exists()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"jwks_uri": "http://keys.example.com/j"}, "non_field_errors"),
        ({"jwks": "not an object"}, "jwks"),
        ({"trust": "nope", "subject": "s"}, "trust"),
        ({"subject": "s"}, "subject"),
    ],
)
def test_bad_credentials_are_400(api, body, field):
    api.login(WRITE)
    response = api.post("/api/v1/clients/", {"name": "w", **body})
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


def test_create_bound_to_a_trust_and_the_binding_is_unique(api):
    api.login(WRITE)
    TrustFactory(name="kubernetes-prod")
    body = {"name": "w", "trust": "kubernetes-prod", "subject": "system:serviceaccount:a:b"}
    first = api.post("/api/v1/clients/", body)
    assert first.status_code == 201
    assert (first.json()["trust"], first.json()["subject"]) == ("kubernetes-prod", "system:serviceaccount:a:b")
    again = api.post("/api/v1/clients/", {**body, "name": "w2"})
    assert again.status_code == 400
    assert "already bound" in again.json()["error_description"]


def test_keys_list_add_and_retire(api):
    api.login(WRITE, READ)
    client = KeyClientFactory()
    token = AccessTokenFactory(client=client, secret=None, key=client.key_row)
    added = api.post(f"/api/v1/clients/{client.client_id}/keys/", {"jwks": jose.public_jwks(jose.ec_key("ec-2"))})
    assert added.status_code == 201
    retired = api.post(f"/api/v1/clients/{client.client_id}/keys/ec-1/retire/")
    assert retired.status_code == 200
    assert retired.json()["state"] == "retired"
    listing = api.get(f"/api/v1/clients/{client.client_id}/keys/").json()
    assert {k["kid"]: k["state"] for k in listing} == {"ec-1": "retired", "ec-2": "active"}
    assert "d" not in listing[0]["jwk"]
    assert AccessToken.objects.get(pk=token.pk).revoked_at is not None
    assert api.post(f"/api/v1/clients/{client.client_id}/keys/ec-1/retire/").status_code == 404


def test_a_writer_cannot_manage_keys_of_a_client_holding_scopes_it_lacks(api):
    api.login(WRITE)
    client = KeyClientFactory(scopes=["payments.admin"])
    response = api.post(f"/api/v1/clients/{client.client_id}/keys/", {"jwks": jose.public_jwks(jose.ec_key("x"))})
    assert response.status_code == 403
    assert api.post(f"/api/v1/clients/{client.client_id}/keys/ec-1/retire/").status_code == 403
    assert ClientKey.objects.filter(client=client).count() == 1


def test_switch_auth_to_keys_and_back(api):
    api.login(WRITE)
    client = ClientFactory()
    token = AccessTokenFactory(client=client)
    to_keys = api.post(
        f"/api/v1/clients/{client.client_id}/switch-auth/",
        {"auth_method": "private_key_jwt", "jwks": jose.public_jwks(jose.ec_key("k"))},
    )
    assert to_keys.status_code == 200, to_keys.content
    assert to_keys.json()["client_secret"] is None
    assert AccessToken.objects.get(pk=token.pk).revoked_at is not None
    back = api.post(f"/api/v1/clients/{client.client_id}/switch-auth/", {"auth_method": "client_secret"})
    assert back.json()["client_secret"].startswith("gth_cs_")
    assert back["Cache-Control"] == "no-store"
    mismatch = api.post(f"/api/v1/clients/{client.client_id}/switch-auth/", {"auth_method": "federated"})
    assert mismatch.status_code == 400
    assert AuditEvent.objects.filter(action="client.switch_auth").count() == 2


def test_trusts_need_admin_to_register(api):
    api.login(WRITE)
    body = {"name": "gh", "issuer": "https://token.actions.githubusercontent.com", "audience": "a", "discover": True}
    response = api.post("/api/v1/trusts/", body)
    assert response.status_code == 403
    assert response.json()["error"] == "scope_not_held"


def test_trust_create_list_and_test_button(api, settings):
    settings.GATEHOUSE_JWKS_ALLOW_LOOPBACK = True
    api.login(ADMIN)
    with LocalIssuer() as issuer:
        made = api.post(
            "/api/v1/trusts/",
            {"name": "ci", "issuer": issuer.url, "audience": "gatehouse", "discover": True, "algorithms": ["ES256"]},
        )
        assert made.status_code == 201, made.content
        assert made.json()["keys"] == "discovery"
        tested = api.post("/api/v1/trusts/ci/test/")
        assert tested.json() == {"name": "ci", "kids": ["issuer-key-1"]}
    assert [t["name"] for t in api.get("/api/v1/trusts/").json()["results"]] == ["ci"]
    broken = api.post("/api/v1/trusts/ci/test/")  # the issuer is gone
    assert broken.status_code == 400
    assert "cannot fetch" in broken.json()["error_description"]


def test_disable_a_trust_over_the_api(api):
    from tests.factories import FederatedClientFactory

    api.login(ADMIN)
    bound = FederatedClientFactory()
    AccessTokenFactory(client=bound, secret=None)
    response = api.post(f"/api/v1/trusts/{bound.trust.name}/disable/")
    assert response.json() == {"tokens_revoked": 1}
    assert api.post(f"/api/v1/trusts/{bound.trust.name}/enable/").json() == {"tokens_revoked": 0}


def test_a_writer_cannot_disable_a_trust(api):
    api.login(WRITE)
    trust = TrustFactory()
    assert api.post(f"/api/v1/trusts/{trust.name}/disable/").status_code == 403
