"""Federated workload identity: a trusted issuer's JWT is the client assertion (RFC 7523 section 2.2).

The suite plays the issuers: a Kubernetes-like cluster (its own key, its JWKS served over HTTP on loopback, tokens
shaped like projected service-account tokens) and GitHub Actions (OIDC discovery, then the JWKS)."""

import threading

import pytest
import requests
from django.core.exceptions import ValidationError
from django.db import connection

from clients import jwks
from clients.models import Client
from clients.services import Actor, Credential, client_create, trust_create
from tests import jose
from tests.factories import FederatedClientFactory, TrustFactory
from tests.issuer import LocalIssuer, github_actions_claims, kubernetes_claims
from tokens.models import AccessToken

K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
K8S_SUBJECT = "system:serviceaccount:billing:invoice-worker"
GH_SUBJECT = "repo:acme/deploy:ref:refs/heads/main"


@pytest.fixture
def loopback_keys(settings):
    """Let Gatehouse fetch keys from the suite's issuers on loopback (a test-only setting)."""
    settings.GATEHOUSE_JWKS_ALLOW_LOOPBACK = True
    jwks.key_cache.clear()
    yield
    jwks.key_cache.clear()


@pytest.fixture
def cluster(loopback_keys):
    with LocalIssuer(issuer=K8S_ISSUER) as issuer:
        yield issuer


@pytest.fixture
def github(loopback_keys):
    with LocalIssuer() as issuer:  # discovery is fetched from the issuer URL itself
        yield issuer


@pytest.fixture
def issuer_url(live_server, settings):
    settings.GATEHOUSE_ISSUER = live_server.url
    return live_server.url


def grant(base, assertion, **form):
    return requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials", **jose.assertion_form(assertion), **form},
        timeout=10,
    )


def register_cluster(cluster, *, scopes=("invoices.write",)):
    trust = trust_create(
        name="kubernetes-prod",
        issuer=K8S_ISSUER,
        jwks_uri=cluster.jwks_uri,
        audience="https://gatehouse.example.com",
        algorithms=["ES256", "RS256"],
        actor=Actor.cli(),
    )
    from tests.factories import ScopeFactory

    for name in scopes:
        ScopeFactory(name=name)
    new = client_create(
        name="invoice-worker",
        scopes=scopes,
        credential=Credential(trust=trust, subject=K8S_SUBJECT),
        actor=Actor.cli(),
    )
    assert new.plaintext is None
    return new.client


def test_kubernetes_service_account_token_gets_a_gatehouse_token(transactional_db, cluster, issuer_url):
    client = register_cluster(cluster)
    projected = cluster.token(
        sub=K8S_SUBJECT, aud=["https://gatehouse.example.com"], **kubernetes_claims("billing", "invoice-worker")
    )
    response = grant(issuer_url, projected)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "invoices.write"
    token = AccessToken.objects.get()
    assert (token.client_id, token.secret_id, token.key_id) == (client.pk, None, None)


def test_github_actions_token_via_discovery(transactional_db, github, issuer_url):
    trust = trust_create(
        name="github-actions",
        issuer=github.issuer,
        discover=True,
        audience="https://github.com/acme",
        algorithms=["RS256", "ES256"],
        actor=Actor.cli(),
    )
    deploy = client_create(
        name="deploy", credential=Credential(trust=trust, subject=GH_SUBJECT), actor=Actor.cli()
    ).client
    oidc = github.token(
        sub=GH_SUBJECT,
        aud="https://github.com/acme",
        lifetime=300,
        **github_actions_claims("acme/deploy", "refs/heads/main"),
    )
    response = grant(issuer_url, oidc, client_id=deploy.client_id)
    assert response.status_code == 200, response.text
    assert github.hits == ["/.well-known/openid-configuration", "/jwks"]
    # the same job token again: its jti was used
    assert grant(issuer_url, oidc).status_code == 401
    # another branch of the same repository is another subject, bound to nobody
    feature = github.token(
        sub="repo:acme/deploy:ref:refs/heads/feature",
        aud="https://github.com/acme",
        **github_actions_claims("acme/deploy", "refs/heads/feature"),
    )
    assert grant(issuer_url, feature).status_code == 401


@pytest.fixture
def bound(db, cluster):
    return register_cluster(cluster)


def post(oauth, assertion, **form):
    return oauth.post("/oauth/token", {"grant_type": "client_credentials", **jose.assertion_form(assertion), **form})


def refused(response, caplog, reason):
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "invalid_client"
    assert f"reason={reason}" in caplog.text


AUD = "https://gatehouse.example.com"


def test_wrong_audience_is_refused(oauth, bound, cluster, caplog):
    refused(post(oauth, cluster.token(sub=K8S_SUBJECT, aud="https://kubernetes.default.svc")), caplog, "wrong_audience")


def test_unknown_issuer_is_refused(oauth, bound, caplog):
    with LocalIssuer(issuer="https://evil.example.com") as other:
        refused(post(oauth, other.token(sub=K8S_SUBJECT, aud=AUD)), caplog, "unknown_issuer")


def test_a_token_from_another_key_under_the_trusted_issuer_is_refused(oauth, bound, cluster, caplog):
    forger = LocalIssuer(jose.ec_key("issuer-key-1"), issuer=K8S_ISSUER)
    refused(post(oauth, forger.token(sub=K8S_SUBJECT, aud=AUD)), caplog, "bad_signature")
    forger.server.server_close()


def test_unbound_subject_is_refused(oauth, bound, cluster, caplog):
    refused(post(oauth, cluster.token(sub="system:serviceaccount:billing:default", aud=AUD)), caplog, "unbound_subject")


def test_expired_token_is_refused(oauth, bound, cluster, caplog):
    refused(post(oauth, cluster.token(sub=K8S_SUBJECT, aud=AUD, lifetime=-120)), caplog, "expired")


def test_not_yet_valid_token_is_refused(oauth, bound, cluster, caplog):
    import time

    refused(post(oauth, cluster.token(sub=K8S_SUBJECT, aud=AUD, nbf=int(time.time()) + 600)), caplog, "not_yet_valid")


def test_replayed_jti_is_refused(oauth, bound, cluster, caplog):
    token = cluster.token(sub=K8S_SUBJECT, aud=AUD, jti="once")
    assert post(oauth, token).status_code == 200
    refused(post(oauth, token), caplog, "replayed_jti")


def test_algorithm_the_trust_does_not_allow_is_refused(oauth, bound, caplog):
    rsa = LocalIssuer(jose.rsa_key("k8s-rsa"), issuer=K8S_ISSUER)
    token = jose.sign(rsa.key, {"iss": K8S_ISSUER, "sub": K8S_SUBJECT, "aud": AUD, "exp": 2**31}, alg="PS256")
    refused(post(oauth, token), caplog, "alg_not_allowed")
    rsa.server.server_close()


def test_alg_none_is_refused(oauth, bound, caplog):
    token = jose.unsigned({"iss": K8S_ISSUER, "sub": K8S_SUBJECT, "aud": AUD, "exp": 2**31})
    refused(post(oauth, token), caplog, "alg_not_allowed")


def test_client_id_naming_another_client_is_refused(oauth, bound, cluster, caplog):
    other = FederatedClientFactory()
    token = cluster.token(sub=K8S_SUBJECT, aud=AUD)
    refused(post(oauth, token, client_id=other.client_id), caplog, "client_id_mismatch")


@pytest.mark.slow  # waits out the fetch time limit (1 s)
def test_issuer_keys_unavailable_is_refused_not_an_error(oauth, bound, cluster, caplog, settings):
    settings.GATEHOUSE_JWKS_TIMEOUT = 1
    cluster.slow = True
    refused(post(oauth, cluster.token(sub=K8S_SUBJECT, aud=AUD)), caplog, "keys_unavailable")


def test_disabled_trust_is_refused(oauth, bound, cluster, caplog):
    bound.trust.is_active = False
    bound.trust.save()
    refused(post(oauth, cluster.token(sub=K8S_SUBJECT, aud=AUD)), caplog, "disabled_trust")


def test_a_subject_is_bound_to_one_client_only(db):
    trust = TrustFactory()
    client_create(name="a", credential=Credential(trust=trust, subject="sa:x"), actor=Actor.cli())
    with pytest.raises(ValidationError, match="already bound"):
        client_create(name="b", credential=Credential(trust=trust, subject="sa:x"), actor=Actor.cli())
    assert Client.objects.filter(trust=trust).count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_binding_race_leaves_one_client_per_subject(transactional_db):
    """Eight registrations of the same (trust, subject) at once: exactly one is made, the rest are refused."""
    trust = TrustFactory()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def register(n: int) -> None:
        try:
            barrier.wait()
            client_create(name=f"w{n}", credential=Credential(trust=trust, subject="sa:race"), actor=Actor.cli())
            outcomes.append("made")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    for _ in range(3):
        Client.objects.filter(trust=trust).delete()
        outcomes.clear()
        barrier.reset()
        threads = [threading.Thread(target=register, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["made"] + ["refused"] * 7
        assert Client.objects.filter(trust=trust, subject="sa:race").count() == 1


@pytest.fixture(autouse=True)
def _log_reasons(caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="gatehouse.oauth")


def test_private_key_jwt_with_keys_at_a_jwks_uri(oauth, loopback_keys, monkeypatch):
    """A private_key_jwt client whose keys Gatehouse fetches: rotation at the URI works without a registry change."""
    from clients.services import Credential

    with LocalIssuer(jose.ec_key("uri-1")) as keys:
        client = client_create(name="w", credential=Credential(jwks_uri=keys.jwks_uri), actor=Actor.cli()).client
        aud = "http://127.0.0.1:8000"
        first = jose.sign(keys.key, jose.claims_for(client.client_id, aud))
        assert post(oauth, first).status_code == 200
        assert AccessToken.objects.get().key_id is None
        keys.key = jose.ec_key("uri-2")  # the workload publishes a new key; an unknown kid refreshes the cache
        monkeypatch.setattr(jwks.key_cache, "clock", lambda: 10**9)  # past the minimum refresh interval
        second = jose.sign(keys.key, jose.claims_for(client.client_id, aud))
        assert post(oauth, second).status_code == 200
