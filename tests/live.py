"""The one harness for live servers: real Gatehouse instances (gunicorn, production settings) on a database
other processes can reach, and what tests do around them.

    with live_database() as url:                    # a fresh migrated database (PostgreSQL, or a SQLite file)
        server = start(url, workers=2)              # one instance, ready
        ...
        server.stop()

    with running(2, current_database_url()) as (a, b):   # instances on pytest-django's own test database
        requests.post(a.url + "/oauth/token", ...)

Each instance is a gunicorn master started from the project root (so it reads gunicorn.conf.py) on a free
loopback port, with debug off, JSON logs in `instance.log_path` (read them with `log()` before `stop()`, which
deletes them), and its own metrics folder. `wait_ready()` waits until `/readyz` answers 200; `stop()` sends SIGTERM
and waits. Also here: manage.py in a subprocess (`manage`), many clients made in one process start
(`create_clients`), a master's workers (`worker_pids`), and a TCP relay to PostgreSQL a test can cut (`TcpProxy`).
Tests using it are marked `slow`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def current_database_url() -> str:
    """The URL of the database the test process is using (pytest-django's test database on PostgreSQL)."""
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("instances need a database other processes can reach: run on PostgreSQL")
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@dataclass
class Instance:
    database_url: str
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    _dir: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_dir(self) -> Path:
        assert self._dir is not None
        return Path(self._dir.name) / "metrics"

    def start(self) -> Instance:
        self._dir = tempfile.TemporaryDirectory(prefix="gatehouse-instance-")
        self.log_path = Path(self._dir.name) / "gunicorn.log"
        self.metrics_dir.mkdir()
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "GATEHOUSE_ISSUER": self.url,
            "GATEHOUSE_LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **self.env,
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(GUNICORN), "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}", "config.wsgi:application"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> Instance:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn at {self.url} not ready after {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running(count: int, database_url: str, *, workers: int = 1, **env: str) -> Iterator[list[Instance]]:
    """Start `count` instances in parallel, wait until all are ready, stop them all on exit."""
    instances = [Instance(database_url, workers=workers, env=env) for _ in range(count)]
    try:
        for instance in instances:
            instance.start()
        for instance in instances:
            try:
                instance.wait_ready()
            except RuntimeError:
                # Most likely the free port was taken between choosing and binding it: one more try.
                if instance.process is None or instance.process.poll() is None:
                    raise
                instance.stop()
                instance.start().wait_ready()
        yield instances
    finally:
        for instance in instances:
            instance.stop()


# Well-formed (prefix, length and checksum hold), so it is checked against the database, but no client's secret.
WRONG_SECRET = "gth_cs_" + "0" * 43 + "3Phhow"

# Production-like (debug off); the throttle's counters are in the database by default, shared by every instance.
DEFAULT_ENV = {"GATEHOUSE_MAX_REQUESTS": "0"}


def command_env(database_url: str, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_", "DATABASE_"))}
    return {
        **clean,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "GATEHOUSE_ISSUER": "http://127.0.0.1",
        "GATEHOUSE_LOG_FORMAT": "text",
        **DEFAULT_ENV,
        **extra,
    }


def manage(database_url: str, *args: str, **env: str) -> str:
    """Run manage.py against `database_url`; its stdout."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=command_env(database_url, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args[:2])} failed: {result.stderr}")
    return result.stdout


_CREATE_MANY = """
import json
from clients.models import Scope
from clients.services import Actor, client_create, scope_create
for name in {scopes!r}:
    if not Scope.objects.filter(name=name).exists():
        scope_create(name=name, actor=Actor.cli())
out = {{}}
for name, options in {clients!r}.items():
    new = client_create(name=name, actor=Actor.cli(), **options)
    out[name] = {{"client_id": new.client.client_id, "client_secret": new.plaintext}}
print(json.dumps(out))
"""


def create_clients(database_url: str, clients: dict[str, dict], scopes: tuple[str, ...] = ()) -> dict[str, dict]:
    """Several clients in one process start (services.client_create keyword arguments per name)."""
    script = _CREATE_MANY.format(scopes=list(scopes), clients=clients)
    return json.loads(manage(database_url, "shell", "-v", "0", "-c", script).strip().splitlines()[-1])


def start(database_url: str, *, workers: int = 2, **env: str) -> Instance:
    """A gunicorn instance on `database_url`, ready."""
    return Instance(database_url, workers=workers, env={**DEFAULT_ENV, **env}).start().wait_ready()


def worker_pids(instance: Instance) -> list[int]:
    """The gunicorn master's children (Linux /proc; no procps needed)."""
    assert instance.process is not None
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == instance.process.pid:
                pids.append(int(stat.parent.name))
    return pids


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


@contextlib.contextmanager
def live_database(base_url: str | None = None) -> Iterator[str]:
    """A fresh, migrated database next to the suite's (PostgreSQL), or a SQLite file; removed afterwards."""
    base_url = base_url if base_url is not None else os.environ.get("DATABASE_URL", "")
    if is_postgres(base_url):
        import psycopg

        parts = urlsplit(base_url)
        name = f"{parts.path.lstrip('/') or 'gatehouse'}_live_{uuid.uuid4().hex[:8]}"
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(parts._replace(path="/" + name))
        try:
            manage(url, "migrate", "--noinput", "-v0")
            yield url
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        with tempfile.TemporaryDirectory(prefix="gatehouse-live-") as directory:
            url = f"sqlite:///{directory}/db.sqlite3"
            manage(url, "migrate", "--noinput", "-v0")
            yield url


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
    """`database_url` reached through `proxy`."""
    parts = urlsplit(database_url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def token(server: Instance, client_id: str, secret: str, session: Any = None) -> Any:
    """POST /oauth/token with client credentials (HTTP Basic); the requests Response."""
    import requests

    return (session or requests).post(
        server.url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10
    )


def introspect(server: Instance, client_id: str, secret: str, access_token: str) -> dict:
    """POST /oauth/introspect as a resource server; the JSON answer (asserting a 200)."""
    import requests

    response = requests.post(
        server.url + "/oauth/introspect", data={"token": access_token}, auth=(client_id, secret), timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def unrevoked_in_database(database_url: str, access_tokens: list[str]) -> set[str]:
    """The digests of those tokens stored and not revoked (PostgreSQL)."""
    import hashlib

    import psycopg

    digests = [hashlib.sha256(t.encode()).hexdigest() for t in access_tokens]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT digest FROM tokens_accesstoken WHERE digest = ANY(%s) AND revoked_at IS NULL", [digests]
        ).fetchall()
    return {row[0] for row in rows}
