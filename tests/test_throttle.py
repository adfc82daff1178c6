"""The throttle's mechanics: what is counted where, what answers 429 and for how long, what is logged, the
stores (database by default, Redis), and the success path that never touches them. The attacks themselves are in
tests/test_throttle_attacks.py."""

import datetime as dt
import ipaddress

import pytest
import time_machine
from django.core.management import call_command
from django.test import RequestFactory

from clients import credentials
from tests.factories import AccessTokenFactory, ClientFactory
from tokens import signals, throttle
from tokens.models import FailureCounter

LIMIT = 3
WINDOW = 300


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.GATEHOUSE_AUTH_FAILURE_LIMIT = LIMIT
    settings.GATEHOUSE_AUTH_FAILURE_WINDOW = WINDOW
    settings.GATEHOUSE_AUTH_NOISE_LIMIT = 10


def wrong():
    return credentials.new_credential(credentials.CLIENT_SECRET_PREFIX)


def attempt(oauth, client, address="10.0.0.1", **headers):
    return oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        auth=(client.client_id, wrong()),
        REMOTE_ADDR=address,
        **headers,
    )


def fail(oauth, client, n, address="10.0.0.1"):
    for _ in range(n):
        assert attempt(oauth, client, address).status_code == 401


def good(oauth, client, address="10.0.0.1", **headers):
    return oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        auth=(client.client_id, client.secret),
        REMOTE_ADDR=address,
        **headers,
    )


def test_past_the_limit_a_pairs_failures_answer_429_at_every_endpoint(oauth, service):
    fail(oauth, service, LIMIT)
    form = {"token": "gth_at_x", "grant_type": "client_credentials"}
    for path in ("/oauth/token", "/oauth/introspect", "/oauth/revoke"):
        response = oauth.post(path, form, auth=(service.client_id, wrong()), REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 429
        assert set(response.json()) == {"error", "error_description"}
        assert response.json()["error"] == "slow_down"
        assert 0 < int(response["Retry-After"]) <= WINDOW
        assert response["Cache-Control"] == "no-store"


def test_the_success_path_does_no_throttle_work(oauth, service, resource_server, django_assert_num_queries):
    token = AccessTokenFactory(client=service)
    for _ in range(LIMIT + 2):
        attempt(oauth, service)
    for _ in range(12):
        oauth.post("/oauth/token", {"grant_type": "client_credentials"}, REMOTE_ADDR="10.0.0.1")
    with django_assert_num_queries(1):
        assert good(oauth, service).status_code == 200
    with django_assert_num_queries(1):
        auth = (resource_server.client_id, resource_server.secret)
        response = oauth.post("/oauth/introspect", {"token": token.plaintext}, auth=auth, REMOTE_ADDR="10.0.0.1")
        assert response.json()["active"] is True


def test_a_failure_costs_one_statement_for_the_counters(oauth, service, django_assert_num_queries, monkeypatch):
    monkeypatch.setattr(throttle, "PURGE_CHANCE", 0)
    with django_assert_num_queries(3):  # the failed INSERT ... SELECT, the reason, the counters' upsert
        assert attempt(oauth, service).status_code == 401
    with django_assert_num_queries(1):  # noise: no lookup, only the counter
        assert oauth.post("/oauth/token", {"grant_type": "client_credentials"}).status_code == 401


def test_the_pair_block_ends_when_the_window_passes(oauth, service):
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        fail(oauth, service, LIMIT)
        traveller.shift(WINDOW - 10)
        blocked = attempt(oauth, service)
        assert blocked.status_code == 429
        assert blocked["Retry-After"] == "10"
        traveller.shift(11)
        assert attempt(oauth, service).status_code == 401  # a new window, counted from 1


def test_other_addresses_and_other_clients_are_unaffected(oauth, service):
    fail(oauth, service, LIMIT)
    assert attempt(oauth, service, "10.0.0.2").status_code == 401
    assert attempt(oauth, ClientFactory(), "10.0.0.1").status_code == 401


def test_noise_is_logged_line_by_line_until_its_block_starts_then_once(oauth, db, caplog):
    for _ in range(10 + 5):
        oauth.post("/oauth/token", {"grant_type": "client_credentials"}, REMOTE_ADDR="10.0.0.7")
    failed = [r for r in caplog.records if r.getMessage().startswith("client authentication failed")]
    started = [r for r in caplog.records if r.getMessage().startswith("throttling credential-less requests")]
    access = [r for r in caplog.records if r.name == "gatehouse.access"]
    assert len(failed) == 11  # 10, and the one that started the block
    assert len(started) == 1
    assert "address_group=10.0.0.7" in started[0].getMessage()
    assert len(access) == 11


def test_a_pair_block_is_logged_once_and_signalled(oauth, service, caplog):
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    signals.throttled.connect(receiver)
    try:
        fail(oauth, service, LIMIT)
        for _ in range(5):
            assert attempt(oauth, service).status_code == 429
    finally:
        signals.throttled.disconnect(receiver)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("throttling failed")]
    assert len(lines) == 1
    assert f"client_id={service.client_id} address_group=10.0.0.1 failures={LIMIT + 1}" in lines[0]
    assert [(s["kind"], s["client_id"], s["address_group"]) for s in seen] == [("pair", service.client_id, "10.0.0.1")]


def test_unknown_client_ids_count_as_noise_not_per_client(oauth, db):
    for _ in range(LIMIT + 2):
        response = oauth.post(
            "/oauth/token",
            {"grant_type": "client_credentials"},
            auth=(credentials.new_client_id(), wrong()),
            REMOTE_ADDR="10.0.0.8",
        )
        assert response.status_code == 401
    assert list(FailureCounter.objects.values_list("name", "hits")) == [("n|10.0.0.8", LIMIT + 2)]


def test_address_groups():
    assert throttle.address_group("192.0.2.1") == "192.0.2.1"
    assert throttle.address_group("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.address_group("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert throttle.address_group("2001:db8:1:2::9") == "2001:db8:1:2::/64"
    assert throttle.address_group("") == "unknown"


def test_counters_are_never_culled(oauth, service, db):
    """Finding 3 in one process: thousands of live counters, and the block still holds."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    FailureCounter.objects.bulk_create(
        FailureCounter(name=f"n|198.18.{i // 250}.{i % 250}", hits=1, expires_at=now + WINDOW) for i in range(2000)
    )
    fail(oauth, service, LIMIT)
    FailureCounter.objects.bulk_create(
        FailureCounter(name=f"n|198.19.{i // 250}.{i % 250}", hits=1, expires_at=now + WINDOW) for i in range(2000)
    )
    assert attempt(oauth, service).status_code == 429
    assert FailureCounter.objects.count() == 4002


def test_expired_counters_are_purged_by_the_tokens_command(oauth, service, capsys, monkeypatch):
    monkeypatch.setattr(throttle, "PURGE_CHANCE", 0)  # else a failure deletes them first, 1 run in 100 or so
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        fail(oauth, service, 2)
        traveller.shift(WINDOW + 1)
        fail(oauth, ClientFactory(), 1)
        call_command("tokens", "purge")
    assert "purged 2 failure counters" in capsys.readouterr().out
    assert FailureCounter.objects.count() == 2


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
    settings.GATEHOUSE_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    assert throttle.client_address(_request("203.0.113.5", "198.51.100.7")) == "203.0.113.5"


def test_a_trusted_proxy_supplies_the_client_address_and_forged_hops_are_skipped(settings):
    settings.GATEHOUSE_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    # The client forged 1.1.1.1; the outer proxy 10.0.0.2 saw 198.51.100.7 and appended it.
    assert throttle.client_address(_request("10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.2")) == "198.51.100.7"
    assert throttle.client_address(_request("10.0.0.1", "garbage, 198.51.100.7")) == "198.51.100.7"
    assert throttle.client_address(_request("10.0.0.1", "")) == "10.0.0.1"


def test_throttle_through_a_trusted_proxy_counts_the_client_not_the_proxy(oauth, service, settings):
    settings.GATEHOUSE_TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.0/8")]
    for _ in range(LIMIT):
        assert attempt(oauth, service, "127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 401
    blocked = attempt(oauth, service, "127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    other = attempt(oauth, service, "127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8")
    valid = good(oauth, service, "127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert (blocked.status_code, other.status_code, valid.status_code) == (429, 401, 200)


def _redis_url():
    import redis

    url = "redis://127.0.0.1:6379/5"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.2).flushdb()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    return url


def test_with_redis_counters_are_shared_between_processes(oauth, service, settings, monkeypatch):
    settings.GATEHOUSE_THROTTLE_STORE = _redis_url()
    fail(oauth, service, LIMIT)
    monkeypatch.setattr(throttle, "_stores", {})  # another process: a store object of its own
    assert attempt(oauth, service).status_code == 429
    assert good(oauth, service).status_code == 200
    assert not FailureCounter.objects.exists()


def test_with_redis_a_flagged_client_counts_its_address_groups(oauth, service, settings):
    settings.GATEHOUSE_THROTTLE_STORE = _redis_url()
    settings.GATEHOUSE_AUTH_ALERT_THRESHOLD = 4
    for address in ("10.0.0.1", "10.0.0.2", "2001:db8::1", "2001:db8::2"):
        attempt(oauth, service, address)
    from clients.models import AuditEvent

    assert AuditEvent.objects.get(action="client.auth_failures").changes["address_groups"] == 3


def test_an_unreachable_redis_fails_open_and_logs(oauth, service, settings, caplog):
    settings.GATEHOUSE_THROTTLE_STORE = "redis://127.0.0.1:9/0"  # discard port: nothing listens
    for _ in range(LIMIT + 2):
        assert attempt(oauth, service).status_code == 401
    assert good(oauth, service).status_code == 200
    assert "throttle store unavailable" in caplog.text
