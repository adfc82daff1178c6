"""Introspection on read replicas (tokens/replicas.py): never a stale "active", never a false "inactive", and a
replica that stops applying is taken out without blocking revocation.

The state machine and the write hooks are tested anywhere with fakes. The rest needs a real streaming replica of the
test server (.ci/replica.sh): GATEHOUSE_TEST_REPLICA_URL=postgres://postgres@127.0.0.1:5433/<any name>; the tests
connect to the test database's name on it (what Django's TEST MIRROR does for a configured replica alias).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from io import StringIO

import dj_database_url
import pytest
import requests
from django.core.management import call_command
from django.db import OperationalError, connection, connections
from django.utils import timezone
from prometheus_client import REGISTRY

from clients import credentials, services
from clients.services import Actor
from tests.conftest import REPLICA_ALIAS, OAuthHttp
from tests.factories import AccessTokenFactory, ClientFactory
from tests.live import ROOT, TcpProxy, current_database_url, free_port, running
from tokens import replicas
from tokens.models import AccessToken, ReplicaState
from tokens.replicas import IN, JOINING, OUT, Probe, Replica

REPLICA_URL = os.environ.get("GATEHOUSE_TEST_REPLICA_URL", "")
_needs_replica = [
    pytest.mark.skipif(
        not REPLICA_URL or connection.vendor != "postgresql",
        reason="needs PostgreSQL and a streaming replica of it (GATEHOUSE_TEST_REPLICA_URL, .ci/replica.sh)",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", REPLICA_ALIAS]),
]


def needs_replica(test):
    for mark in _needs_replica:
        test = mark(test)
    return test


REFRESH_MS, WAIT_MS = 50, 300
APPLY_DELAY_MS = 30


def reads(source: str) -> float:
    return REGISTRY.get_sample_value("gatehouse_replica_reads_total", {"source": source}) or 0.0


@pytest.fixture
def fake_replicas(monkeypatch):
    """Replicas configured as far as the hooks and the state machine can tell, with no database behind them."""
    replica = Replica("replica_0", "replica.test:5432", IN)
    monkeypatch.setattr(replicas, "ALIASES", ("replica_0",))
    monkeypatch.setattr(replicas._cache, "replicas", [replica])
    monkeypatch.setattr(replicas._cache, "read_at", float("-inf"))
    return replica


@pytest.fixture
def waits(monkeypatch, fake_replicas) -> list[str]:
    """Each wait_for_replicas() call, recorded instead of run."""
    calls: list[str] = []
    monkeypatch.setattr(replicas, "wait_for_replicas", lambda: calls.append("wait"))
    return calls


# --- no replicas: today's behaviour --------------------------------------------------------------------------------


def test_without_replicas_introspection_is_one_query_and_no_replica_code_runs(
    oauth, service, resource_server, django_assert_num_queries, monkeypatch
):
    assert replicas.ALIASES == ()

    def forbidden(*args, **kwargs):
        raise AssertionError("replica code ran without replicas")

    monkeypatch.setattr(replicas, "fetchone", forbidden)
    monkeypatch.setattr(replicas, "answered", forbidden)
    monkeypatch.setattr(replicas, "wait_for_replicas", forbidden)
    issued = oauth.token(service).json()["access_token"]
    with django_assert_num_queries(1):
        active = AccessToken.objects.introspect(
            caller_id=resource_server.client_id,
            caller_secret=resource_server.secret,
            token=issued,
            now=timezone.now(),
        )
    assert active.token is not None
    assert oauth.introspect(resource_server, issued).json()["active"] is True
    assert oauth.revoke(service, issued).status_code == 200
    services.client_disable(client=service, actor=Actor.cli())


def test_without_replicas_the_write_hook_registers_nothing(service, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.client_disable(client=service, actor=Actor.cli())
    assert replicas._wait not in callbacks


def settings_with(**env: str) -> subprocess.CompletedProcess:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; from tokens import replicas; "
        "print(json.dumps([s.DATABASES, list(replicas.ALIASES), [r.name for r in replicas._cache.replicas]]))"
    )
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_", "DATABASE_"))}
    full.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True)


@pytest.mark.slow
def test_each_replica_url_becomes_an_alias_with_the_primarys_options_mirroring_the_test_database():
    done = settings_with(
        DATABASE_URL="postgres://gh@db.internal:5432/gatehouse",
        DATABASE_REPLICA_URLS="postgres://gh@replica-a:5432/gatehouse, postgres://gh@replica-b:6432/gatehouse",
    )
    databases, aliases, names = json.loads(done.stdout)
    assert aliases == ["replica_0", "replica_1"]
    assert names == ["replica-a:5432", "replica-b:6432"]
    assert databases["replica_1"]["HOST"] == "replica-b"
    assert databases["replica_1"]["OPTIONS"] == databases["default"]["OPTIONS"]
    assert databases["replica_0"]["TEST"]["MIRROR"] == "default"


@pytest.mark.slow
def test_replicas_need_a_postgresql_primary():
    done = settings_with(DATABASE_REPLICA_URLS="postgres://gh@replica-a:5432/gatehouse")
    assert "DATABASE_REPLICA_URLS needs DATABASE_URL to be PostgreSQL" in done.stderr
    unset = json.loads(settings_with().stdout)
    assert list(unset[0]) == ["default"]
    assert unset[1] == []


# --- the writers' hook ----------------------------------------------------------------------------------------------


def test_disable_waits_for_the_replicas_after_commit(service, waits, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.client_disable(client=service, actor=Actor.cli())
        assert waits == []  # not before the commit
    assert waits


def test_secret_retirement_waits_for_the_replicas(service, waits, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.secret_retire(secret=service.secrets.get(), actor=Actor.cli())
    assert waits


def test_scope_removal_waits_for_the_replicas(service, waits, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.client_update(client=service, actor=Actor.cli(), scopes=["read"])
    assert waits


def test_revocation_endpoint_waits_when_it_revoked_something(oauth, service, waits, django_capture_on_commit_callbacks):
    issued = oauth.token(service).json()["access_token"]
    with django_capture_on_commit_callbacks(execute=True):
        assert oauth.revoke(service, "gth_at_not-a-token-of-ours").status_code == 200
    assert waits == []  # nothing changed, nothing to wait for
    with django_capture_on_commit_callbacks(execute=True):
        assert oauth.revoke(service, issued).status_code == 200
    assert waits == ["wait"]


def test_tokens_revoke_command_waits_for_the_replicas(service, waits, django_capture_on_commit_callbacks):
    token = AccessTokenFactory(client=service, secret=service.secrets.get())
    with django_capture_on_commit_callbacks(execute=True):
        call_command("tokens", "revoke", str(token.pk), stdout=StringIO())
    assert waits


# --- the state machine, with fakes ----------------------------------------------------------------------------------


def measured(monkeypatch, outcome: Probe, moved: bool = True) -> list[tuple[str, str, tuple[str, ...]]]:
    moves: list[tuple[str, str, tuple[str, ...]]] = []

    def set_state(name, state, *, reason, lag, only_from):
        moves.append((name, state, only_from))
        return moved

    monkeypatch.setattr(replicas, "probe", lambda replica, lsn: outcome)
    monkeypatch.setattr(replicas, "set_state", set_state)
    return moves


HEALTHY = Probe(True, True, 0.0)
HEALTHY_BEHIND = Probe(True, False, 0.4)


@pytest.mark.parametrize(
    "problem",
    [
        Probe(False, False, 9.0, "lag 9.0s"),
        Probe(False, True, 0.0, "replay paused"),
        Probe(False, False, None, "unreachable: OperationalError"),
    ],
)
def test_an_unhealthy_replica_in_service_is_taken_out_for_everyone(monkeypatch, fake_replicas, problem):
    moves = measured(monkeypatch, problem)
    assert replicas._measure(fake_replicas, IN, "0/10", time.monotonic()) == OUT
    assert moves == [("replica.test:5432", OUT, (IN, JOINING))]


def test_an_unreachable_replica_is_probed_again_less_and_less_often(monkeypatch, fake_replicas):
    measured(monkeypatch, Probe(False, False, None, "unreachable: OperationalError"))
    now = time.monotonic()
    waits = []
    for _ in range(6):
        replicas._measure(fake_replicas, IN, "0/10", now)
        waits.append(fake_replicas.retry_at - now)
        now = fake_replicas.retry_at
    assert waits == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    monkeypatch.setattr(replicas, "probe", lambda replica, lsn: pytest.fail("probed again during the back-off"))
    assert replicas._measure(fake_replicas, IN, "0/10", now - 1) == OUT
    measured(monkeypatch, HEALTHY)
    replicas._measure(fake_replicas, OUT, "0/10", now)
    assert fake_replicas.unreachable == 0  # reached again: the next failure starts from 5 s


def test_a_healthy_replica_out_of_service_only_joins_and_is_not_read_yet(monkeypatch, fake_replicas):
    moves = measured(monkeypatch, HEALTHY)
    assert replicas._measure(fake_replicas, OUT, "0/10", time.monotonic()) == OUT
    assert moves == [("replica.test:5432", JOINING, (OUT,))]


def test_a_joining_replica_comes_in_once_it_replayed_a_position_read_after_joining(monkeypatch, fake_replicas):
    moves = measured(monkeypatch, HEALTHY_BEHIND)
    assert replicas._measure(fake_replicas, JOINING, "0/10", time.monotonic()) == JOINING
    assert moves == []
    moves = measured(monkeypatch, HEALTHY)
    assert replicas._measure(fake_replicas, JOINING, "0/10", time.monotonic()) == IN
    assert moves == [("replica.test:5432", IN, (JOINING,))]


def test_a_joining_replica_another_process_took_out_stays_unread(monkeypatch, fake_replicas):
    measured(monkeypatch, HEALTHY, moved=False)  # the conditional UPDATE found it no longer joining
    assert replicas._measure(fake_replicas, JOINING, "0/10", time.monotonic()) == JOINING


def test_a_healthy_replica_in_service_stays_in(monkeypatch, fake_replicas):
    moves = measured(monkeypatch, HEALTHY_BEHIND)
    assert replicas._measure(fake_replicas, IN, "0/10", time.monotonic()) == IN
    assert moves == []


def test_readers_use_only_replicas_in_service_with_a_fresh_reading(monkeypatch, fake_replicas):
    monkeypatch.setattr(replicas, "refresh", lambda: None)  # a refresh that could not reach the primary
    assert replicas._pick() is None  # stale: even an "in" replica is not read
    replicas._cache.read_at = time.monotonic()
    assert replicas._pick() is fake_replicas
    fake_replicas.state = JOINING
    assert replicas._pick() is None


def test_a_writer_takes_a_late_replica_out_then_waits_out_the_lease(monkeypatch, fake_replicas, settings):
    settings.GATEHOUSE_REPLICA_REFRESH_MS = 250
    moves = measured(monkeypatch, HEALTHY)
    slept: list[float] = []
    monkeypatch.setattr(replicas, "_sleep", slept.append)
    monkeypatch.setattr(replicas, "_in_use", lambda: ("0/10", ["replica.test:5432", "unknown.test:5432"]))
    monkeypatch.setattr(replicas, "_applied", lambda replica, lsn, deadline: False)
    replicas.wait_for_replicas()
    assert [(name, state) for name, state, _ in moves] == [("replica.test:5432", OUT), ("unknown.test:5432", OUT)]
    assert fake_replicas.state == OUT
    assert slept == [0.5]


def test_a_writer_whose_replicas_applied_returns_at_once(monkeypatch, fake_replicas):
    moves = measured(monkeypatch, HEALTHY)
    monkeypatch.setattr(replicas, "_sleep", lambda seconds: pytest.fail("waited out a lease"))
    monkeypatch.setattr(replicas, "_in_use", lambda: ("0/10", ["replica.test:5432"]))
    monkeypatch.setattr(replicas, "_applied", lambda replica, lsn, deadline: True)
    replicas.wait_for_replicas()
    assert moves == []


def test_a_replica_that_fails_a_read_is_left_for_the_primary(oauth, service, resource_server, monkeypatch):
    class Gone:
        closed = False

        def cursor(self):
            raise OperationalError("connection refused")

        def close(self):
            self.closed = True

    gone = Gone()
    broken = Replica("replica_broken", "broken.test:5432", IN)
    monkeypatch.setattr(replicas, "ALIASES", ("replica_broken",))
    monkeypatch.setattr(replicas, "_pick", lambda: broken)
    monkeypatch.setattr(replicas, "connections", {"replica_broken": gone})
    issued = oauth.token(service).json()["access_token"]
    before = reads("primary")
    response = oauth.introspect(resource_server, issued)
    assert response.status_code == 200
    assert response.json()["active"] is True
    assert broken.state == OUT
    assert gone.closed
    assert reads("primary") == before + 1


# --- a real streaming replica ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def replica_at(host: str, port: int):
    """The replica alias pointed elsewhere for a while (a proxy in front of it, a closed port)."""
    conf = connections.settings[REPLICA_ALIAS]
    saved = conf["HOST"], conf["PORT"]
    connections[REPLICA_ALIAS].close()
    conf["HOST"], conf["PORT"] = host, port
    try:
        yield
    finally:
        connections[REPLICA_ALIAS].close()
        conf["HOST"], conf["PORT"] = saved


def replica_sql(sql: str, url: str = REPLICA_URL) -> None:
    """Run a statement on the replica's server (its own connection: pausing replay is per server)."""
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def apply_delay(ms: int = APPLY_DELAY_MS):
    """The replica applies each commit `ms` late (recovery_min_apply_delay): on loopback it is otherwise so quick that
    a missing wait or re-check would go unseen."""
    replica_sql(f"ALTER SYSTEM SET recovery_min_apply_delay = '{ms}ms'")
    replica_sql("SELECT pg_reload_conf()")
    try:
        yield
    finally:
        replica_sql("ALTER SYSTEM RESET recovery_min_apply_delay")
        replica_sql("SELECT pg_reload_conf()")


@pytest.fixture
def delayed(replica):
    with apply_delay():
        yield replica


def until_in_service(timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replicas.refresh()
        if replicas._cache.replicas and all(r.state == IN for r in replicas._cache.replicas):
            return
        time.sleep(REFRESH_MS / 1000)
    raise AssertionError(f"replica not in service after {timeout}s: {replicas._cache.replicas}")


@pytest.fixture
def with_replica(transactional_db, settings):
    """Replicas configured for this process: the test server's streaming replica (tests/conftest.py)."""
    settings.GATEHOUSE_REPLICA_REFRESH_MS = REFRESH_MS
    settings.GATEHOUSE_REPLICA_WAIT_MS = WAIT_MS
    replicas.configure([REPLICA_ALIAS])
    try:
        yield REPLICA_ALIAS
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")
        replicas.configure(())
        connections[REPLICA_ALIAS].close()


@pytest.fixture
def replica(with_replica):
    """... and in service."""
    until_in_service()
    return with_replica


def shared_state() -> str:
    return ReplicaState.objects.get().state


@needs_replica
def test_issue_then_introspect_is_active_at_once(delayed):
    oauth = OAuthHttp()
    service = ClientFactory(scopes=["read"])
    caller = ClientFactory(can_introspect=True)
    for _ in range(30):
        issued = oauth.token(service).json()["access_token"]
        assert oauth.introspect(caller, issued).json()["active"] is True
    new_caller = ClientFactory(can_introspect=True)  # a caller just created is authenticated at once too
    assert oauth.introspect(new_caller, issued).json()["active"] is True


@needs_replica
def test_revoke_then_introspect_through_the_replica_is_inactive_at_once(delayed):
    oauth = OAuthHttp()
    service = ClientFactory(scopes=["read"])
    caller = ClientFactory(can_introspect=True)
    answered_by_replica = reads("replica")
    for _ in range(20):
        issued = oauth.token(service).json()["access_token"]
        deadline = time.monotonic() + 2
        before = reads("replica")
        while reads("replica") == before:  # until the replica itself answers "active"
            assert oauth.introspect(caller, issued).json()["active"] is True
            assert time.monotonic() < deadline, "the replica never answered"
        assert oauth.revoke(service, issued).status_code == 200
        assert oauth.introspect(caller, issued).json() == {"active": False}
    assert reads("replica") >= answered_by_replica + 20
    assert shared_state() == IN


@needs_replica
def test_a_token_we_could_not_have_issued_is_answered_by_the_replica_alone(replica):
    oauth = OAuthHttp()
    caller = ClientFactory(can_introspect=True)
    until_in_service()
    replica_before, rechecked_before = reads("replica"), reads("rechecked")
    assert oauth.introspect(caller, "gth_at_made-up").json() == {"active": False}
    assert (reads("replica"), reads("rechecked")) == (replica_before + 1, rechecked_before)
    unknown = credentials.new_credential(credentials.ACCESS_TOKEN_PREFIX)  # could be one just issued: ask the primary
    assert oauth.introspect(caller, unknown).json() == {"active": False}
    assert reads("rechecked") == rechecked_before + 1


@needs_replica
def test_disable_then_introspect_through_the_replica_is_inactive_at_once(delayed):
    oauth = OAuthHttp()
    service = ClientFactory(scopes=["read"])
    caller = ClientFactory(can_introspect=True)
    issued = oauth.token(service).json()["access_token"]
    deadline = time.monotonic() + 2
    before = reads("replica")
    while reads("replica") == before:
        assert oauth.introspect(caller, issued).json()["active"] is True
        assert time.monotonic() < deadline
    services.client_disable(client=service, actor=Actor.cli())
    assert oauth.introspect(caller, issued).json() == {"active": False}


@needs_replica
def test_paused_replay_takes_the_replica_out_without_blocking_revocation_then_it_rejoins(replica):
    oauth = OAuthHttp()
    service = ClientFactory(scopes=["read"])
    caller = ClientFactory(can_introspect=True)
    issued = oauth.token(service).json()["access_token"]
    replica_sql("SELECT pg_wal_replay_pause()")
    try:
        started = time.monotonic()
        assert oauth.revoke(service, issued).status_code == 200
        took = time.monotonic() - started
        assert took < (WAIT_MS + 2 * REFRESH_MS) / 1000 + 1.0, took
        assert took >= WAIT_MS / 1000  # it did wait for the replica before giving up on it
        assert shared_state() == OUT
        assert oauth.introspect(caller, issued).json() == {"active": False}
        replicas.refresh()
        assert replicas._cache.replicas[0].state == OUT
        assert "paused" in replicas._cache.replicas[0].reason
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")
    until_in_service()
    assert shared_state() == IN
    fresh = oauth.token(service).json()["access_token"]
    deadline = time.monotonic() + 3
    before = reads("replica")
    while reads("replica") == before:  # it serves again
        assert oauth.introspect(caller, fresh).json()["active"] is True
        assert time.monotonic() < deadline, "the replica did not serve again"


@needs_replica
def test_a_replica_that_goes_away_is_left_for_the_primary_without_errors(with_replica):
    parsed = dj_database_url.parse(REPLICA_URL)
    proxy = TcpProxy(parsed["HOST"], int(parsed["PORT"]))
    oauth = OAuthHttp()
    service = ClientFactory(scopes=["read"])
    caller = ClientFactory(can_introspect=True)
    try:
        with replica_at("127.0.0.1", proxy.port):
            replicas.configure([REPLICA_ALIAS])  # its name is now the proxy's
            until_in_service()
            issued = oauth.token(service).json()["access_token"]
            proxy.cut("refuse")
            for _ in range(5):
                response = oauth.introspect(caller, issued)
                assert response.status_code == 200
                assert response.json()["active"] is True
            started = time.monotonic()
            assert oauth.revoke(service, issued).status_code == 200  # never hangs on it either
            assert time.monotonic() - started < (WAIT_MS + 2 * REFRESH_MS) / 1000 + 1.0
            assert oauth.introspect(caller, issued).json() == {"active": False}
            assert replicas._cache.replicas[0].state == OUT
            assert shared_state() == OUT
    finally:
        proxy.close()


@needs_replica
def test_a_replica_on_a_closed_port_never_serves_and_never_errors(with_replica):
    oauth = OAuthHttp()
    service = ClientFactory(scopes=["read"])
    caller = ClientFactory(can_introspect=True)
    with replica_at("127.0.0.1", free_port()):
        replicas.configure([REPLICA_ALIAS])
        issued = oauth.token(service).json()["access_token"]
        for _ in range(3):
            response = oauth.introspect(caller, issued)
            assert response.status_code == 200
            assert response.json()["active"] is True
            time.sleep(REFRESH_MS / 1000)
        assert shared_state() != IN
        assert replicas._cache.replicas[0].reason.startswith("unreachable")


# --- the attack, against live servers -------------------------------------------------------------------------------


def metric(server, sample: str) -> float:
    for line in requests.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@needs_replica
@pytest.mark.slow
def test_concurrent_revoke_then_introspect_on_live_servers_reading_a_replica():
    primary = current_database_url()
    replica_url = REPLICA_URL.rsplit("/", 1)[0] + "/" + primary.rsplit("/", 1)[1]
    service = ClientFactory(scopes=["read"])
    caller = ClientFactory(can_introspect=True)
    failures: list[str] = []
    with (
        apply_delay(),
        running(1, primary, workers=2, DATABASE_REPLICA_URLS=replica_url, GATEHOUSE_REPLICA_REFRESH_MS="100") as (
            server,
        ),
    ):
        ready = requests.get(server.url + "/readyz", timeout=10).json()
        assert [r["name"] for r in ready["replicas"]] == [replica_url.split("@")[1].rsplit("/", 1)[0]]

        def rounds(count: int) -> None:
            http = requests.Session()
            try:
                for _ in range(count):
                    issued = http.post(
                        server.url + "/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(service.client_id, service.secret),
                        timeout=10,
                    ).json()["access_token"]
                    for pause in (0.0, 0.05):  # at once (the primary), then through the replica once it has it
                        time.sleep(pause)
                        answer = http.post(
                            server.url + "/oauth/introspect",
                            data={"token": issued},
                            auth=(caller.client_id, caller.secret),
                            timeout=10,
                        )
                        if answer.status_code != 200 or answer.json().get("active") is not True:
                            failures.append(f"issued token inactive: {answer.status_code} {answer.text}")
                    revoked = http.post(
                        server.url + "/oauth/revoke", data={"token": issued}, auth=(service.client_id, service.secret)
                    )
                    answer = http.post(
                        server.url + "/oauth/introspect", data={"token": issued}, auth=(caller.client_id, caller.secret)
                    )
                    if revoked.status_code != 200 or answer.json() != {"active": False}:
                        failures.append(f"revoked token: {revoked.status_code} then {answer.text}")
            except Exception as error:  # noqa: BLE001 - reported below
                failures.append(repr(error))

        threads = [threading.Thread(target=rounds, args=(40,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        by_replica = metric(server, 'gatehouse_replica_reads_total{source="replica"}')
        assert failures == []
        assert by_replica >= 100, by_replica  # the replica really answered (most "active" answers after the first)
        body = requests.get(server.url + "/readyz", timeout=10).json()
        assert body["replicas"][0]["state"] == IN
        assert metric(server, f'gatehouse_replica_in_service{{replica="{body["replicas"][0]["name"]}"}}') == 1
