"""Failed client authentication is throttled by source address, in a store shared by every worker."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.core.cache import caches
from django.core.management import call_command
from django.test import RequestFactory

from tests.factories import AccessTokenFactory, ClientFactory
from tokens import signals, throttle

LIMIT = 3
WINDOW = 300


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.GATEHOUSE_AUTH_FAILURE_LIMIT = LIMIT
    settings.GATEHOUSE_AUTH_FAILURE_WINDOW = WINDOW


def fail(oauth, client, n, address="10.0.0.1"):
    for _ in range(n):
        response = oauth.post(
            "/oauth/token",
            {"grant_type": "client_credentials"},
            auth=(client.client_id, "gth_cs_wrong"),
            REMOTE_ADDR=address,
        )
        assert response.status_code == 401


def good(oauth, client, address="10.0.0.1", **headers):
    return oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        auth=(client.client_id, client.secret),
        REMOTE_ADDR=address,
        **headers,
    )


def test_address_is_blocked_at_every_endpoint_after_the_failure_limit(oauth, service, resource_server):
    token = AccessTokenFactory(client=service)
    fail(oauth, service, LIMIT)
    auth = (resource_server.client_id, resource_server.secret)
    responses = [
        oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=auth, REMOTE_ADDR="10.0.0.1"),
        oauth.post("/oauth/introspect", {"token": token.plaintext}, auth=auth, REMOTE_ADDR="10.0.0.1"),
        oauth.post("/oauth/revoke", {"token": token.plaintext}, auth=auth, REMOTE_ADDR="10.0.0.1"),
    ]
    for response in responses:
        assert response.status_code == 429
        assert response.json()["error"] == "slow_down"
        assert set(response.json()) == {"error", "error_description"}
        assert 0 < int(response["Retry-After"]) <= WINDOW
        assert response["Cache-Control"] == "no-store"


def test_blocked_address_gets_no_credential_check(oauth, service, django_assert_num_queries):
    fail(oauth, service, LIMIT)
    with django_assert_num_queries(0):
        response = good(oauth, service)
    assert response.status_code == 429


def test_other_addresses_are_unaffected(oauth, service):
    fail(oauth, service, LIMIT)
    response = good(oauth, service, "10.0.0.2")
    assert response.status_code == 200


def test_failures_below_the_limit_do_not_block(oauth, service):
    fail(oauth, service, LIMIT - 1)
    response = good(oauth, service)
    assert response.status_code == 200


def test_block_ends_when_the_window_passes(oauth, service):
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        fail(oauth, service, LIMIT)
        traveller.shift(WINDOW - 10)
        blocked = good(oauth, service)
        assert blocked.status_code == 429
        assert blocked["Retry-After"] == "10"
        traveller.shift(11)
        caches["default"].clear()  # locmem expires on the real clock; the shared store would have expired it
        response = good(oauth, service)
    assert response.status_code == 200


def test_requests_without_credentials_do_not_count(oauth, service):
    for _ in range(LIMIT + 1):
        response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 401
    assert good(oauth, service).status_code == 200


def test_a_block_made_by_another_worker_is_seen_without_a_credential_check(oauth, service, django_assert_num_queries):
    fail(oauth, service, LIMIT)
    throttle.forget_all()  # this process never saw those failures: only the shared store knows
    with django_assert_num_queries(0):
        response = good(oauth, service)
    assert response.status_code == 429


def test_every_failure_is_signalled_with_reason_and_address_but_no_secret(oauth, service):
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    signals.auth_failed.connect(receiver)
    try:
        oauth.post(
            "/oauth/introspect",
            {"token": "x"},
            auth=(service.client_id, "gth_cs_not-the-secret"),
            REMOTE_ADDR="10.0.0.9",
        )
        oauth.post("/oauth/revoke", {"token": "x"}, REMOTE_ADDR="10.0.0.9")
    finally:
        signals.auth_failed.disconnect(receiver)
    assert seen[0] | {"signal": None} == {
        "signal": None,
        "endpoint": "introspect",
        "client_id": service.client_id,
        "address": "10.0.0.9",
        "reason": "malformed_secret",
    }
    assert seen[1]["reason"] == "missing_credentials"
    assert "gth_cs_not-the-secret" not in repr(seen)


def test_failure_is_logged_with_client_id_address_and_reason(oauth, service, caplog):
    ClientFactory()
    oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        auth=(service.client_id, "gth_cs_x"),
        REMOTE_ADDR="10.1.1.1",
    )
    lines = [r.getMessage() for r in caplog.records if r.name == "gatehouse.oauth"]
    assert lines == [
        f"client authentication failed endpoint=token client_id={service.client_id} address=10.1.1.1 "
        "reason=malformed_secret"
    ]


def test_a_secret_sent_as_client_id_is_not_logged(oauth, service, caplog):
    oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(service.secret, service.secret))
    assert service.secret not in caplog.text
    assert "client_id=(malformed)" in caplog.text


def _request(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/oauth/token", **extra)


def test_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.GATEHOUSE_TRUSTED_PROXIES = []
    assert throttle.client_address(_request("203.0.113.5", "198.51.100.7")) == "203.0.113.5"


def test_forwarded_for_is_ignored_from_an_untrusted_peer(settings):
    import ipaddress

    settings.GATEHOUSE_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    assert throttle.client_address(_request("203.0.113.5", "198.51.100.7")) == "203.0.113.5"


def test_a_trusted_proxy_supplies_the_client_address_and_forged_hops_are_skipped(settings):
    import ipaddress

    settings.GATEHOUSE_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    # The client forged 1.1.1.1; the outer proxy 10.0.0.2 saw 198.51.100.7 and appended it.
    assert throttle.client_address(_request("10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.2")) == "198.51.100.7"
    assert throttle.client_address(_request("10.0.0.1", "garbage, 198.51.100.7")) == "198.51.100.7"
    assert throttle.client_address(_request("10.0.0.1", "")) == "10.0.0.1"


def test_throttle_through_a_trusted_proxy_blocks_the_client_not_the_proxy(oauth, service, settings):
    import ipaddress

    settings.GATEHOUSE_TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.0/8")]
    for _ in range(LIMIT):
        oauth.post(
            "/oauth/token",
            {"grant_type": "client_credentials"},
            auth=(service.client_id, "gth_cs_x"),
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR="198.51.100.7",
        )
    blocked = good(oauth, service, "127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    other = good(oauth, service, "127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert (blocked.status_code, other.status_code) == (429, 200)


@pytest.fixture
def database_cache(settings, db):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "gatehouse_cache"}
    }
    call_command("createcachetable", verbosity=0)
    yield caches["default"]


def test_with_the_database_cache_the_success_paths_stay_one_statement(
    oauth, service, resource_server, database_cache, django_assert_num_queries
):
    token = AccessTokenFactory(client=service)
    oauth.token(service)  # the first request from an address reads the shared block list once
    with django_assert_num_queries(1):
        assert oauth.token(service).status_code == 200
    with django_assert_num_queries(1):
        assert oauth.introspect(resource_server, token.plaintext).json()["active"] is True


def test_with_the_database_cache_failures_are_counted_in_the_database(oauth, service, database_cache):
    fail(oauth, service, LIMIT)
    throttle.forget_all()
    assert good(oauth, service).status_code == 429


def _redis_url():
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    return url


def test_with_redis_a_block_is_shared_between_processes(oauth, service, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url(),
            "KEY_PREFIX": f"gatehouse-test-{uuid.uuid4().hex}",
        }
    }
    fail(oauth, service, LIMIT)
    throttle.forget_all()
    response = good(oauth, service)
    assert response.status_code == 429


def test_an_unreachable_store_fails_open(oauth, service, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # discard port: nothing listens
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    fail(oauth, service, LIMIT + 1)
    assert oauth.token(service).status_code == 200


def test_the_access_log_names_the_client_behind_a_trusted_proxy(oauth, service, settings, caplog):
    import ipaddress

    settings.GATEHOUSE_TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.0/8")]
    good(oauth, service, "127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    (record,) = [r for r in caplog.records if r.name == "gatehouse.access"]
    assert record.fields["address"] == "198.51.100.7"
