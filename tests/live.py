"""Helpers for the security and fault tests' live servers, on top of tests/harness.py's gunicorn `Instance`:
a fresh migrated database, manage.py in a subprocess, clients made in one process start, a master's workers.

    with live_database() as url:
        server = start(url, workers=2)
        ...
        server.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.harness import ROOT, Instance

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
