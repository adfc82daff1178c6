"""GET /metrics: Prometheus counters and latency of the OAuth endpoints, guarded by network and token."""

from ipaddress import ip_network

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from tests.factories import AccessTokenFactory, ClientFactory


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def scrape(client):
    def get(**headers):
        return client.get("/metrics", **headers)

    return get


def test_token_requests_are_counted_by_client_and_outcome(oauth, service, scrape):
    before = sample("gatehouse_token_requests_total", client_id=service.client_id, outcome="issued")
    scope_before = sample("gatehouse_token_requests_total", client_id=service.client_id, outcome="invalid_scope")
    oauth.token(service)
    oauth.token(service)
    oauth.token(service, scope="admin")

    body = scrape().content.decode()
    assert f'gatehouse_token_requests_total{{client_id="{service.client_id}",outcome="issued"}} {before + 2}' in body
    assert sample("gatehouse_token_requests_total", client_id=service.client_id, outcome="invalid_scope") == (
        scope_before + 1
    )


def test_unauthenticated_token_requests_do_not_get_a_label_of_their_own(oauth, service):
    # Labels come only from authenticated clients: made-up client ids cannot grow the metric without bound.
    before = sample("gatehouse_token_requests_total", client_id="unauthenticated", outcome="invalid_client")
    oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=("gth_ci_madeup", service.secret))
    assert sample("gatehouse_token_requests_total", client_id="unauthenticated", outcome="invalid_client") == (
        before + 1
    )
    assert sample("gatehouse_token_requests_total", client_id="gth_ci_madeup", outcome="invalid_client") == 0


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("gth_cs_" + "A" * 49, "malformed_secret"),
        (None, "wrong_secret"),
    ],
)
def test_authentication_failures_are_counted_by_reason(oauth, service, secret, reason):
    if secret is None:
        secret = ClientFactory().secret  # well formed, but another client's
    before = sample("gatehouse_authentication_failures_total", endpoint="token", reason=reason)
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(service.client_id, secret))
    assert response.status_code == 401
    assert sample("gatehouse_authentication_failures_total", endpoint="token", reason=reason) == before + 1


def test_a_malformed_basic_header_counts_as_an_authentication_failure(oauth):
    before = sample("gatehouse_authentication_failures_total", endpoint="introspect", reason="malformed_credentials")
    oauth.post("/oauth/introspect", {"token": "x"}, HTTP_AUTHORIZATION="Basic not base64!")
    after = sample("gatehouse_authentication_failures_total", endpoint="introspect", reason="malformed_credentials")
    assert after == before + 1


def test_introspections_are_counted_as_active_inactive_or_refused(oauth, service, resource_server):
    live = AccessTokenFactory(client=service)
    before = {r: sample("gatehouse_introspections_total", result=r) for r in ("active", "inactive", "refused")}
    oauth.introspect(resource_server, live.plaintext)
    oauth.introspect(resource_server, "gth_at_unknown")
    oauth.introspect(service, live.plaintext)  # may not introspect: refused
    after = {r: sample("gatehouse_introspections_total", result=r) for r in before}
    assert {r: after[r] - before[r] for r in before} == {"active": 1, "inactive": 1, "refused": 1}


def test_latency_is_a_histogram_per_endpoint(oauth, service, scrape):
    token = AccessTokenFactory(client=service)
    before = sample("gatehouse_request_duration_seconds_count", endpoint="revoke")
    oauth.revoke(service, token.plaintext)
    assert sample("gatehouse_request_duration_seconds_count", endpoint="revoke") == before + 1
    body = scrape().content.decode()
    assert 'gatehouse_request_duration_seconds_bucket{endpoint="revoke",le="0.005"}' in body
    assert 'gatehouse_request_duration_seconds_bucket{endpoint="token",le="+Inf"}' in body


def test_live_tokens_are_counted_at_scrape_time(db, scrape):
    AccessTokenFactory.create_batch(3)
    AccessTokenFactory(revoked_at=1)
    AccessTokenFactory(issued_at=1, expires_at=2)
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "\ngatehouse_live_tokens 3.0\n" in response.content.decode()


def test_metrics_add_no_query_to_the_token_and_introspection_paths(
    oauth, service, resource_server, django_assert_num_queries
):
    with django_assert_num_queries(1):
        token = oauth.token(service).json()["access_token"]
    with django_assert_num_queries(1):
        assert oauth.introspect(resource_server, token).json()["active"] is True


def test_metrics_are_refused_outside_the_allowed_networks(db, scrape):
    assert scrape(REMOTE_ADDR="203.0.113.9").status_code == 403
    assert scrape(REMOTE_ADDR="::1").status_code == 200


@override_settings(
    GATEHOUSE_METRICS_TOKEN="scrape-me", GATEHOUSE_METRICS_NETWORKS=[ip_network("0.0.0.0/0"), ip_network("::/0")]
)
def test_metrics_want_the_bearer_token_when_one_is_configured(db, scrape):
    assert scrape().status_code == 401
    assert scrape()["WWW-Authenticate"].startswith("Bearer")
    assert scrape(HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(HTTP_AUTHORIZATION="Bearer scrape-me", REMOTE_ADDR="203.0.113.9").status_code == 200


def test_metrics_answer_only_get(db, client):
    assert client.post("/metrics").status_code == 405
