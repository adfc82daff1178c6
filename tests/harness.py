"""Live servers for integration tests: a fresh database, gunicorn on a free port, manage.py in a subprocess.

with live_database() as url:
    server = start_gunicorn(url, workers=2)
    ...
    server.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "live-test-key-" + uuid.uuid4().hex * 2


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    """A production-like environment (debug off) for a server or command on `database_url`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_", "DATABASE_"))}
    return {
        **clean,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "GATEHOUSE_CACHE_URL": "database",
        "GATEHOUSE_LOG_LEVEL": "WARNING",
        **extra,
    }


def manage(database_url: str, *args: str, **env: str) -> str:
    """Run manage.py against `database_url`; its stdout."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base_env(database_url, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def create_client(database_url: str, name: str, *args: str) -> dict:
    return json.loads(manage(database_url, "client", "create", name, *args, "--json"))


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def worker_pids(self) -> list[int]:
        """The gunicorn master's children (Linux /proc; no procps needed)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_gunicorn(database_url: str, *, workers: int = 2, timeout: float = 30, **env: str) -> Server:
    """gunicorn serving Gatehouse on a free port of 127.0.0.1, once it answers."""
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="gatehouse-gunicorn-", suffix=".log")[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "30",
        ],  # fmt: skip
        cwd=ROOT,
        env=base_env(database_url, **env),
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {server.log()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(server.url + "/.well-known/oauth-authorization-server", timeout=1).ok:
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer within {timeout}s: {server.log()}")


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
            manage(url, "createcachetable")
            yield url
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        with tempfile.TemporaryDirectory(prefix="gatehouse-live-") as directory:
            url = f"sqlite:///{directory}/db.sqlite3"
            manage(url, "migrate", "--noinput", "-v0")
            manage(url, "createcachetable")
            yield url
