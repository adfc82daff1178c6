"""Run real Gatehouse instances (gunicorn, production settings) against a given database, for integration tests.

    with running(2, database_url) as (a, b):
        requests.post(a.url + "/oauth/token", ...)

Each instance is a gunicorn master started from the project root (so it reads gunicorn.conf.py) on a free
loopback port, with debug off, JSON logs in `instance.log_path` (read them with `log()` before `stop()`, which
deletes them), and its own metrics folder. `wait_ready()` waits until `/readyz` answers 200; `stop()` sends SIGTERM
and waits. The database must already be migrated and must
be one that other processes can see (PostgreSQL, or a SQLite file; not an in-memory test database).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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
