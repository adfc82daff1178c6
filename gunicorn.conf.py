"""Gunicorn's production settings for Gatehouse; gunicorn reads this file when started from the project root.

Command-line flags win over everything here (`gunicorn -w 4 -b 0.0.0.0:9000 config.wsgi:application`), and
so does GUNICORN_CMD_ARGS. The environment sets the rest:

    GATEHOUSE_BIND            127.0.0.1:8000 (the container sets 0.0.0.0:8000)
    GATEHOUSE_WORKERS         else WEB_CONCURRENCY, else 2 x CPUs + 1
    GATEHOUSE_TIMEOUT         30 s before a silent worker is killed and replaced
    GATEHOUSE_MAX_REQUESTS    50000 requests per worker (plus up to 10% jitter) before it is recycled
    GATEHOUSE_ACCESS_LOG      "-" (stdout), or a file, or "" for none
    PROMETHEUS_MULTIPROC_DIR  where workers keep their metrics; a fresh temporary folder when unset

Workers are sync workers: a request is one or two short database statements, so a worker per CPU-bound slot
and a persistent database connection each (CONN_MAX_AGE) serve best. The app is not preloaded, so no database
connection or metric file is ever shared across a fork.
"""

import os
import shutil
import tempfile

from gunicorn.glogging import Logger


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = os.environ.get("GATEHOUSE_BIND", "127.0.0.1:8000")
# Sync, measured against gthread (docs/decisions.md): with keep-alive a gthread worker keeps every connection it
# accepted, so a few busy clients can pile onto one worker and halve throughput; sync spreads each request.
worker_class = "sync"
workers = _int("GATEHOUSE_WORKERS", _int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1))
preload_app = False

timeout = _int("GATEHOUSE_TIMEOUT", 30)
graceful_timeout = 30  # on SIGTERM, in-flight requests get this long to finish
# Sync workers close the connection after each response; keep-alive matters for gthread or async workers only.
keepalive = 5
backlog = 2048

# Recycle workers now and then (bounds any slow leak); the jitter keeps them from all restarting at once.
max_requests = _int("GATEHOUSE_MAX_REQUESTS", 50000)
max_requests_jitter = max_requests // 10

# The heartbeat file each worker touches: in memory, so a slow disk never gets a healthy worker killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - tmpfs, the documented choice

# The control socket defaults to one path per user: two instances on one host would fight over it.
control_socket_disable = True

errorlog = "-"
loglevel = os.environ.get("GATEHOUSE_GUNICORN_LOG_LEVEL", "info")
accesslog = os.environ.get("GATEHOUSE_ACCESS_LOG", "-") or None

# gunicorn's own lines in the application's format: JSON unless debugging, as config/settings.py decides.
_debug = os.environ.get("DJANGO_DEBUG", "1").strip().lower() in ("1", "true", "yes", "on")
LOG_FORMAT = os.environ.get("GATEHOUSE_LOG_FORMAT") or ("text" if _debug else "json")

# Requests that gunicorn does not log: probes and scrapes (high volume, no news), and the OAuth endpoints, which
# Gatehouse logs itself as structured lines with the client, outcome and request id (ops/middleware.py).
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/oauth/token", "/oauth/introspect", "/oauth/revoke"})


class GatehouseLogger(Logger):
    """gunicorn's logs as JSON lines (or gunicorn's text when debugging), without the quiet paths."""

    def setup(self, cfg):  # type: ignore[no-untyped-def]
        super().setup(cfg)
        if LOG_FORMAT == "json":
            from ops.logs import JsonFormatter

            for handler in self.error_log.handlers + self.access_log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        if req.path in QUIET_PATHS or not self.access_log_enabled:
            return
        if LOG_FORMAT != "json":
            super().access(resp, req, environ, request_time)
            return
        request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), None)
        fields = {
            "method": req.method,
            "path": req.path,
            "status": resp.status_code,
            "bytes": resp.sent,
            "latency_ms": round(request_time.total_seconds() * 1000, 2),
            "request_id": request_id,
            "address": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        self.access_log.info("http request", extra={"fields": fields})


logger_class = GatehouseLogger

# Metrics from several workers: each worker writes its own files in one folder, /metrics adds them up.
# The variable must be set before any worker imports prometheus_client, so it is set here, in the master.
_created_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _created_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gatehouse-metrics-", dir=worker_tmp_dir)


def on_starting(server):  # type: ignore[no-untyped-def]
    """Start from zero: files left by a previous run would be added to this run's counts."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """A dead worker's counts stay in the totals, folded into one archive file per kind (see below)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
    fold_dead_worker(os.environ["PROMETHEUS_MULTIPROC_DIR"], worker.pid)


def fold_dead_worker(folder: str, pid: int) -> None:
    """Add a dead worker's counters and histograms into `<kind>_archive.db` and delete its own files.

    Workers are recycled (max_requests) and each leaves its files behind; without folding, every scrape would
    read one more pair of files per recycled worker, forever. Only the master writes the archive.
    """
    from prometheus_client.mmap_dict import MmapedDict

    for kind in ("counter", "histogram"):
        dead = os.path.join(folder, f"{kind}_{pid}.db")
        if not os.path.exists(dead):
            continue
        archive = MmapedDict(os.path.join(folder, f"{kind}_archive.db"))
        try:
            for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(dead):
                total, _ = archive.read_value(key)
                archive.write_value(key, total + value, 0.0)
        finally:
            archive.close()
        os.remove(dead)


def on_exit(server):  # type: ignore[no-untyped-def]
    if _created_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
