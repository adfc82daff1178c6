"""Gunicorn's production settings for Gatehouse; gunicorn reads this file when started from the project root.

Command-line flags win over everything here (`gunicorn -w 4 -b 0.0.0.0:9000 config.wsgi:application`), and
so does GUNICORN_CMD_ARGS. The environment sets the rest (read by config/env.py: a bad value stops the start):

    GATEHOUSE_BIND            127.0.0.1:8000 (the container sets 0.0.0.0:8000)
    GATEHOUSE_WORKERS         else WEB_CONCURRENCY, else 2 x CPUs + 1
    GATEHOUSE_TIMEOUT         30 s before a silent worker is killed and replaced
    GATEHOUSE_MAX_REQUESTS    50000 requests per worker (plus up to 10% jitter) before it is recycled
    GATEHOUSE_ACCESS_LOG      "-" (stdout), or a file, or "" for none
    PROMETHEUS_MULTIPROC_DIR  where workers keep their metrics; a fresh temporary folder when unset

Workers are sync workers: a request is one or two short database statements, so a worker per CPU-bound slot
and a persistent database connection each (CONN_MAX_AGE) serve best. The app is not preloaded, so no database
connection or metric file is ever shared across a fork. The logger and the hooks live in ops/gunicorn.py.
"""

import os
import tempfile

from config.env import env_int, env_str, log_format
from ops import gunicorn as hooks

bind = env_str("GATEHOUSE_BIND", "127.0.0.1:8000")
# Sync, measured against gthread (docs/decisions.md): with keep-alive a gthread worker keeps every connection it
# accepted, so a few busy clients can pile onto one worker and halve throughput; sync spreads each request.
worker_class = "sync"
workers = env_int("GATEHOUSE_WORKERS", env_int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1, minimum=1), minimum=1)
preload_app = False

timeout = env_int("GATEHOUSE_TIMEOUT", 30, minimum=1)
graceful_timeout = 30  # on SIGTERM, in-flight requests get this long to finish
# Sync workers close the connection after each response; keep-alive matters for gthread or async workers only.
keepalive = 5
backlog = 2048

# Recycle workers now and then (bounds any slow leak); the jitter keeps them from all restarting at once.
max_requests = env_int("GATEHOUSE_MAX_REQUESTS", 50000, minimum=0)
max_requests_jitter = max_requests // 10

# The heartbeat file each worker touches: in memory, so a slow disk never gets a healthy worker killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - tmpfs, the documented choice

# The control socket defaults to one path per user: two instances on one host would fight over it.
control_socket_disable = True

errorlog = "-"
loglevel = env_str("GATEHOUSE_GUNICORN_LOG_LEVEL", "info")
accesslog = env_str("GATEHOUSE_ACCESS_LOG", "-") or None

# gunicorn's own lines in the application's format: JSON unless debugging, as config/settings.py decides.
logger_class = hooks.make_logger(log_format())

# Metrics from several workers: each worker writes its own files in one folder, /metrics adds them up.
# The variable must be set before any worker imports prometheus_client, so it is set here, in the master.
_created_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _created_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gatehouse-metrics-", dir=worker_tmp_dir)


def on_starting(server):  # type: ignore[no-untyped-def]
    hooks.clear_metric_files(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    hooks.retire_worker(os.environ["PROMETHEUS_MULTIPROC_DIR"], worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    if _created_metrics_dir:
        hooks.remove_metric_folder(os.environ["PROMETHEUS_MULTIPROC_DIR"])
