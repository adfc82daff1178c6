"""private_key_jwt (RFC 7523 section 2.2) at the token, introspection and revocation endpoints, and every refusal
written as the attack: each answers the same invalid_client, with its own reason in the log."""

import logging

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from clients.models import Client
from clients.services import Actor, client_key_retire
from tests import jose
from tests.factories import ClientFactory, KeyClientFactory
from tokens.models import AccessToken, UsedAssertion

pytestmark = pytest.mark.django_db

ISSUER = "http://127.0.0.1:8000"
TOKEN_URL = ISSUER + "/oauth/token"


def token_with(oauth, assertion, **form):
    form.setdefault("grant_type", "client_credentials")
    return oauth.post("/oauth/token", jose.assertion_form(assertion, **form))


def refused(response, caplog, reason):
    """The caller sees only invalid_client; the log line names the reason."""
    assert response.status_code == 401, response.content
    assert response.json() == {"error": "invalid_client", "error_description": "client authentication failed"}
    assert f"reason={reason}" in caplog.text, caplog.text


@pytest.fixture
def keyed():
    return KeyClientFactory(name="invoice-worker", scopes=["orders.read", "orders.write"])


@pytest.mark.parametrize(
    "make_key,alg",
    [(jose.ec_key, "ES256"), (jose.rsa_key, "RS256"), (jose.rsa_key, "PS256"), (jose.okp_key, "EdDSA")],
)
@pytest.mark.parametrize("aud", [ISSUER, TOKEN_URL])
def test_token_for_an_assertion_signed_with_a_registered_key(oauth, make_key, alg, aud):
    client = KeyClientFactory(key=make_key(), scopes=["orders.read"])
    assertion = jose.sign(client.private_key, jose.claims_for(client.client_id, aud), alg=alg)
    response = token_with(oauth, assertion, scope="orders.read")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "orders.read"
    token = AccessToken.objects.get()
    assert (token.client_id, token.key_id, token.secret_id) == (client.pk, client.key_row.pk, None)
    assert AccessToken.objects.bearer(body["access_token"], now=timezone.now()) is not None


def test_client_id_in_the_body_must_name_the_asserting_client(oauth, keyed, caplog):
    other = KeyClientFactory()
    ok = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    assert token_with(oauth, ok, client_id=keyed.client_id).status_code == 200
    mismatch = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    refused(token_with(oauth, mismatch, client_id=other.client_id), caplog, "client_id_mismatch")


def test_replayed_jti_is_refused(oauth, keyed, caplog):
    assertion = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    assert token_with(oauth, assertion).status_code == 200
    refused(token_with(oauth, assertion), caplog, "replayed_jti")
    assert AccessToken.objects.count() == 1


def test_same_jti_from_two_clients_is_two_assertions(oauth, keyed):
    other = KeyClientFactory()
    claims = jose.claims_for(keyed.client_id, ISSUER, jti="shared")
    assert token_with(oauth, jose.sign(keyed.private_key, claims)).status_code == 200
    claims = jose.claims_for(other.client_id, ISSUER, jti="shared")
    assert token_with(oauth, jose.sign(other.private_key, claims)).status_code == 200


def test_a_refused_scope_still_uses_the_jti(oauth, keyed):
    assertion = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    response = token_with(oauth, assertion, scope="payments.admin")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert token_with(oauth, assertion).status_code == 401


def test_expired_assertion_is_refused(oauth, keyed, caplog):
    claims = jose.claims_for(keyed.client_id, ISSUER, now=timezone.now().timestamp() - 600)
    refused(token_with(oauth, jose.sign(keyed.private_key, claims)), caplog, "expired")


def test_exp_more_than_five_minutes_ahead_is_refused(oauth, keyed, caplog):
    # Authlib's default is an hour: the client recipe in docs/api.md passes a short exp.
    claims = jose.claims_for(keyed.client_id, ISSUER, lifetime=3600)
    refused(token_with(oauth, jose.sign(keyed.private_key, claims)), caplog, "exp_too_far")
    claims = jose.claims_for(keyed.client_id, ISSUER, lifetime=300)
    assert token_with(oauth, jose.sign(keyed.private_key, claims)).status_code == 200


def test_not_yet_valid_assertion_is_refused(oauth, keyed, caplog):
    claims = jose.claims_for(keyed.client_id, ISSUER, nbf=int(timezone.now().timestamp()) + 120)
    refused(token_with(oauth, jose.sign(keyed.private_key, claims)), caplog, "not_yet_valid")


def test_assertion_dated_in_the_past_works_while_its_exp_holds(oauth, keyed):
    with time_machine.travel(timezone.now() - __import__("datetime").timedelta(seconds=200), tick=False):
        claims = jose.claims_for(keyed.client_id, ISSUER, lifetime=300)
    assert token_with(oauth, jose.sign(keyed.private_key, claims)).status_code == 200


@pytest.mark.parametrize("aud", ["https://evil.example.com", ISSUER + "/oauth/introspect", [], None])
def test_wrong_audience_is_refused(oauth, keyed, caplog, aud):
    claims = jose.claims_for(keyed.client_id, ISSUER)
    if aud is None:
        del claims["aud"]
    else:
        claims["aud"] = aud
    refused(token_with(oauth, jose.sign(keyed.private_key, claims)), caplog, "wrong_audience")


def test_wrong_issuer_is_refused(oauth, keyed, caplog):
    # iss must equal sub (the client id): otherwise it is read as a federated token of an issuer nobody trusts.
    claims = {**jose.claims_for(keyed.client_id, ISSUER), "iss": "https://attacker.example.com"}
    refused(token_with(oauth, jose.sign(keyed.private_key, claims)), caplog, "unknown_issuer")


def test_unknown_client_is_refused(oauth, keyed, caplog):
    ghost = ClientFactory.build().client_id
    refused(token_with(oauth, jose.sign(keyed.private_key, jose.claims_for(ghost, ISSUER))), caplog, "unknown_client")


def test_unknown_kid_is_refused(oauth, keyed, caplog):
    claims = jose.claims_for(keyed.client_id, ISSUER)
    refused(token_with(oauth, jose.sign(keyed.private_key, claims, kid="not-registered")), caplog, "unknown_kid")


def test_another_key_with_the_registered_kid_is_refused(oauth, keyed, caplog):
    impostor = jose.ec_key(keyed.private_key.kid)
    claims = jose.claims_for(keyed.client_id, ISSUER)
    refused(token_with(oauth, jose.sign(impostor, claims)), caplog, "bad_signature")


def test_alg_none_is_refused(oauth, keyed, caplog):
    assertion = jose.unsigned(jose.claims_for(keyed.client_id, ISSUER))
    refused(token_with(oauth, assertion), caplog, "alg_not_allowed")


def test_hmac_keyed_with_the_public_key_is_refused(oauth, caplog):
    client = KeyClientFactory(key=jose.rsa_key())
    assertion = jose.hmac_with_public_key(client.private_key, jose.claims_for(client.client_id, ISSUER))
    refused(token_with(oauth, assertion), caplog, "alg_not_allowed")


def test_key_of_the_wrong_type_is_refused(oauth, caplog):
    # An RSA key registered; an assertion claiming ES256 under its kid.
    client = KeyClientFactory(key=jose.rsa_key())
    assertion = jose.sign(jose.ec_key("rsa-1"), jose.claims_for(client.client_id, ISSUER))
    refused(token_with(oauth, assertion), caplog, "wrong_key_type")


@pytest.mark.parametrize("typ", ["at+jwt", "dpop+jwt", "logout+jwt"])
def test_a_token_of_another_type_is_refused(oauth, keyed, caplog, typ):
    claims = jose.claims_for(keyed.client_id, ISSUER)
    refused(token_with(oauth, jose.sign(keyed.private_key, claims, typ=typ)), caplog, "wrong_token_type")


@pytest.mark.parametrize("typ", ["JWT", "client-authentication+jwt"])
def test_assertion_types_are_accepted(oauth, keyed, typ):
    claims = jose.claims_for(keyed.client_id, ISSUER)
    assert token_with(oauth, jose.sign(keyed.private_key, claims, typ=typ)).status_code == 200


def test_missing_jti_is_refused(oauth, keyed, caplog):
    claims = jose.claims_for(keyed.client_id, ISSUER)
    del claims["jti"]
    refused(token_with(oauth, jose.sign(keyed.private_key, claims)), caplog, "missing_jti")


@pytest.mark.parametrize(
    "assertion", ["", "abc", "a.b.c", "e30.e30.", "x" * 9000, "eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln"]
)
def test_malformed_assertions_are_invalid_client_never_5xx(oauth, assertion):
    response = token_with(oauth, assertion)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_other_assertion_types_are_refused(oauth, keyed, caplog):
    assertion = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    form = {
        **jose.assertion_form(assertion),
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
    }
    refused(
        oauth.post("/oauth/token", {"grant_type": "client_credentials", **form}), caplog, "unsupported_assertion_type"
    )


def test_an_assertion_and_a_secret_together_are_refused(oauth, keyed):
    assertion = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    response = oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials", **jose.assertion_form(assertion)},
        auth=(keyed.client_id, "gth_cs_" + "0" * 49),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_key_client_cannot_use_a_secret_and_a_secret_client_cannot_use_a_key(oauth, keyed, caplog):
    secret_client = ClientFactory()
    from clients.services import _new_secret

    # Even a secret row slipped under a key client does not authenticate it: the rule is its auth_method.
    _, plaintext = _new_secret(client=keyed, actor=Actor.cli(), now=timezone.now())
    keyed.secret = plaintext
    assert oauth.token(keyed).status_code == 401
    forged = jose.sign(jose.ec_key(), jose.claims_for(secret_client.client_id, ISSUER))
    refused(token_with(oauth, forged), caplog, "wrong_auth_method")


def test_disabled_client_is_refused(oauth, keyed, caplog):
    Client.objects.filter(pk=keyed.pk).update(is_active=False)
    refused(
        token_with(oauth, jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))),
        caplog,
        "disabled_client",
    )


def test_retired_key_signs_nothing_and_its_tokens_end(oauth, keyed, caplog):
    second = jose.ec_key("ec-2")
    from tests.factories import ClientKeyFactory

    ClientKeyFactory(client=keyed, key=second)
    by_first = token_with(oauth, jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))).json()
    by_second = token_with(oauth, jose.sign(second, jose.claims_for(keyed.client_id, ISSUER))).json()
    client_key_retire(client=keyed, kid="ec-1", actor=Actor.cli())
    now = timezone.now()
    assert AccessToken.objects.bearer(by_first["access_token"], now=now) is None
    assert AccessToken.objects.bearer(by_second["access_token"], now=now) is not None
    refused(
        token_with(oauth, jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))), caplog, "unknown_kid"
    )


def test_introspection_and_revocation_accept_private_key_jwt(oauth, keyed):
    rs = KeyClientFactory(can_introspect=True, key=jose.ec_key("rs-1"))
    token = token_with(oauth, jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))).json()
    introspect_url = ISSUER + "/oauth/introspect"
    assertion = jose.sign(rs.private_key, jose.claims_for(rs.client_id, introspect_url))
    response = oauth.post("/oauth/introspect", {"token": token["access_token"], **jose.assertion_form(assertion)})
    assert response.status_code == 200
    assert response.json()["active"] is True
    assert response.json()["client_id"] == keyed.client_id
    # the same assertion again is a replay, at introspection too
    replay = oauth.post("/oauth/introspect", {"token": token["access_token"], **jose.assertion_form(assertion)})
    assert replay.status_code == 401
    revoke = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    assert (
        oauth.post("/oauth/revoke", {"token": token["access_token"], **jose.assertion_form(revoke)}).status_code == 200
    )
    assert AccessToken.objects.bearer(token["access_token"], now=timezone.now()) is None


def test_a_client_that_may_not_introspect_is_told_so(oauth, keyed):
    assertion = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    response = oauth.post("/oauth/introspect", {"token": "x", **jose.assertion_form(assertion)})
    assert response.status_code == 403
    assert response.json()["error"] == "unauthorized_client"


def test_token_path_query_count(oauth, keyed, django_assert_num_queries):
    # PostgreSQL: find the client's keys, then one statement records the jti and issues the token.
    # SQLite: the jti insert is a statement of its own.
    expected = 2 if connection.vendor == "postgresql" else 3
    assertion = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    with django_assert_num_queries(expected):
        assert token_with(oauth, assertion).status_code == 200


def test_failure_reasons_reach_the_metrics(oauth, keyed):
    from ops.metrics import AUTH_FAILURES

    before = AUTH_FAILURES.labels("token", "replayed_jti")._value.get()
    assertion = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER))
    token_with(oauth, assertion)
    token_with(oauth, assertion)
    assert AUTH_FAILURES.labels("token", "replayed_jti")._value.get() == before + 1


def test_purge_deletes_only_expired_jti_records(oauth, keyed):
    assertion = jose.sign(keyed.private_key, jose.claims_for(keyed.client_id, ISSUER, lifetime=60))
    assert token_with(oauth, assertion).status_code == 200
    assert AccessToken.objects.purge_used_assertions(now=timezone.now()) == 0
    later = timezone.now() + __import__("datetime").timedelta(seconds=120)
    assert AccessToken.objects.purge_used_assertions(now=later) == 1
    assert not UsedAssertion.objects.exists()


@pytest.fixture(autouse=True)
def _log_reasons(caplog):
    caplog.set_level(logging.WARNING, logger="gatehouse.oauth")
