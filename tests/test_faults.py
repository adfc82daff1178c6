"""Faults and concurrency against live gunicorn servers on PostgreSQL: rotation under load, two instances on one
database, a worker killed mid-load, the database going away and coming back. Skipped on SQLite."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

from tests import live

pytestmark = pytest.mark.skipif(
    not live.is_postgres(os.environ.get("DATABASE_URL", "")), reason="integration tests need PostgreSQL"
)

TOKEN_FORM = {"grant_type": "client_credentials"}
WRONG_SECRET = live.WRONG_SECRET


@pytest.fixture(scope="module")
def database(live_database_url):
    return live_database_url


@pytest.fixture(scope="module")
def clients(database):
    """Every client the tests below use, made in one go (each test gets its own)."""
    names = ["job-a", "job-b", "job-c", "job-d", "job-refuse", "job-silent"]
    return live.create_clients(
        database,
        {
            "orders-api": {"can_introspect": True},
            "billing-job": {"scopes": ["read"]},
            **{name: {} for name in names},
        },
        scopes=("read",),
    )


@pytest.fixture(autouse=True)
def no_blocked_addresses(database):
    """Every server here sees the tests as 127.0.0.1: each test starts with no failures counted."""
    with psycopg.connect(database) as conn:
        conn.execute("DELETE FROM tokens_failurecounter")


@pytest.fixture(scope="module")
def resource_server(clients):
    return clients["orders-api"]


def token(server, client_id, secret, session=requests):
    return session.post(server.url + "/oauth/token", data=TOKEN_FORM, auth=(client_id, secret), timeout=10)


def introspect(server, rs, access_token):
    response = requests.post(
        server.url + "/oauth/introspect",
        data={"token": access_token},
        auth=(rs["client_id"], rs["client_secret"]),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def tokens_in_database(database, access_tokens):
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT digest FROM tokens_accesstoken WHERE digest = ANY(%s) AND revoked_at IS NULL",
            [[digest(t) for t in access_tokens]],
        ).fetchall()
    return {row[0] for row in rows}


ROTATE_TWICE = """
import json, time
from clients.models import Client
from clients.services import Actor, client_rotate_secret
from datetime import timedelta
for _ in range(2):
    time.sleep(0.3)
    client = Client.objects.get(client_id={client_id!r})
    print(client_rotate_secret(client=client, grace=timedelta(seconds=300), actor=Actor.cli()).plaintext, flush=True)
time.sleep(0.3)
"""


def test_twenty_threads_get_tokens_while_the_secret_is_rotated_twice(database, clients, resource_server):
    server = live.start(database, workers=3)
    client = clients["billing-job"]
    secrets = [client["client_secret"]]  # every secret listed here is valid: the old ones are in grace
    stop = threading.Event()
    outcomes: list[tuple[int, str]] = []

    def hammer():
        session = requests.Session()
        while not stop.is_set():
            response = token(server, client["client_id"], random.choice(secrets), session)
            outcomes.append((response.status_code, response.json().get("access_token", response.text)))

    try:
        with ThreadPoolExecutor(20) as pool:
            for _ in range(20):
                pool.submit(hammer)
            rotation = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "shell",
                    "-v",
                    "0",
                    "-c",
                    ROTATE_TWICE.format(client_id=client["client_id"]),
                ],
                cwd=live.ROOT,
                env=live.command_env(database),
                stdout=subprocess.PIPE,
                text=True,
            )
            for line in rotation.stdout:
                if line.startswith("gth_cs_"):
                    secrets.append(line.strip())  # printed once committed: from then on it must work
            assert rotation.wait() == 0
            stop.set()
        assert len(secrets) == 3
        assert len(outcomes) > 50
        assert [text for status, text in outcomes if status != 200] == []
        sample = random.sample([t for _, t in outcomes], 50)
        assert all(introspect(server, resource_server, t)["active"] for t in sample)
        assert len(tokens_in_database(database, [t for _, t in outcomes])) == len(outcomes)
    finally:
        stop.set()
        server.stop()


@pytest.fixture(scope="module")
def two_instances(database):
    env = {"GATEHOUSE_AUTH_FAILURE_LIMIT": "5"}
    a = live.start(database, workers=1, **env)
    b = live.start(database, workers=1, **env)
    yield a, b
    a.stop()
    b.stop()


def test_a_token_from_one_instance_is_active_on_the_other_until_revoked_there(two_instances, clients, resource_server):
    a, b = two_instances
    client = clients["job-a"]
    access_token = token(a, client["client_id"], client["client_secret"]).json()["access_token"]
    assert introspect(b, resource_server, access_token)["active"] is True
    revoked = requests.post(
        a.url + "/oauth/revoke",
        data={"token": access_token},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    assert revoked.status_code == 200
    assert introspect(b, resource_server, access_token) == {"active": False}


def test_disabling_a_client_takes_effect_on_every_instance_at_once(two_instances, database, clients, resource_server):
    a, b = two_instances
    client = clients["job-b"]
    access_token = token(b, client["client_id"], client["client_secret"]).json()["access_token"]
    live.manage(database, "client", "disable", client["client_id"])
    assert introspect(a, resource_server, access_token) == {"active": False}
    assert introspect(b, resource_server, access_token) == {"active": False}
    assert token(a, client["client_id"], client["client_secret"]).status_code == 401
    assert token(b, client["client_id"], client["client_secret"]).status_code == 401


def test_failed_authentication_counts_across_instances(two_instances, clients):
    a, b = two_instances
    client = clients["job-c"]
    statuses = [token(a, client["client_id"], WRONG_SECRET).status_code for _ in range(5)]
    assert statuses == [401] * 5  # the limit of 5, reached on instance a
    blocked = token(b, client["client_id"], WRONG_SECRET)
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "slow_down"
    assert int(blocked.headers["Retry-After"]) > 0
    assert token(b, client["client_id"], client["client_secret"]).status_code == 200  # never the valid secret


def test_a_worker_killed_during_load_loses_at_most_its_requests_in_flight(database, clients, resource_server):
    server = live.start(database, workers=2)
    client = clients["job-d"]
    stop = threading.Event()
    issued: list[str] = []
    statuses: list[int] = []
    errors: list[str] = []

    def hammer():
        while not stop.is_set():
            try:
                response = token(server, client["client_id"], client["client_secret"])
            except requests.RequestException as error:
                errors.append(type(error).__name__)
                continue
            statuses.append(response.status_code)
            if response.status_code == 200:
                issued.append(response.json()["access_token"])

    try:
        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        victim = live.worker_pids(server)[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join()
        assert victim not in live.worker_pids(server)  # gunicorn replaced it
        assert len(live.worker_pids(server)) == 2
        # A sync worker serves one request at a time: only the one it was handling can fail.
        assert len(errors) <= 1, errors
        assert set(statuses) == {200}
        assert len(issued) > 10
        assert len(tokens_in_database(database, issued)) == len(issued)
        assert all(introspect(server, resource_server, t)["active"] for t in issued[-10:])
    finally:
        stop.set()
        server.stop()


class TcpProxy:
    """A TCP relay to PostgreSQL that a test can cut (connections reset, new ones refused or left silent)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode = "up"
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                downstream.close()
                continue
            with self.lock:
                self.open.append(downstream)
            if self.mode == "silent":
                continue  # accepted, never answered: a black-holed database
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open.append(upstream)
            threading.Thread(target=self._pump, args=(downstream, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self, mode: str) -> None:
        self.mode = mode
        with self.lock:
            for sock in self.open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.open.clear()

    def restore(self) -> None:
        self.mode = "up"

    def close(self) -> None:
        self.listener.close()
        self.cut("refuse")


def via(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


CONNECT_TIMEOUT = 2  # seconds: libpq's minimum (DATABASE_CONNECT_TIMEOUT is 3 by default)


@pytest.mark.parametrize("outage", ["refuse", "silent"])
def test_database_outage_answers_503_quickly_and_service_resumes_without_restart(database, clients, outage):
    client = clients[f"job-{outage}"]
    target = urlsplit(database)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    server = live.start(via(proxy, database), workers=2, DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT))
    try:
        assert token(server, client["client_id"], client["client_secret"]).status_code == 200
        proxy.cut(outage)
        # Each of the 2 workers may hold a dead kept-alive connection: the third request at least must reconnect
        # (and, when the database is silent, wait out the connect timeout).
        for _ in range(3):
            started = time.monotonic()
            response = token(server, client["client_id"], client["client_secret"])
            elapsed = time.monotonic() - started
            assert response.status_code == 503
            assert response.json()["error"] == "temporarily_unavailable"
            assert response.headers["Retry-After"] == "1"
            assert elapsed < CONNECT_TIMEOUT + 2  # a margin for a loaded CI machine; never the kernel's minutes
        if outage == "refuse":
            metadata = requests.get(server.url + "/.well-known/oauth-authorization-server", timeout=10)
            assert metadata.status_code == 503
        proxy.restore()
        # A worker that served nothing during the outage still holds its cut connection: its first request
        # finds it dead, drops it and is served again on a fresh connection (tokens.views.OAuthView.post).
        statuses = [token(server, client["client_id"], client["client_secret"]).status_code for _ in range(8)]
        assert statuses == [200] * 8, statuses
        assert token(server, client["client_id"], client["client_secret"]).status_code == 200
        assert "Traceback" not in server.log(), server.log()
    finally:
        server.stop()
        proxy.close()
