"""What gunicorn.conf.py hands to gunicorn: its logger (JSON lines, quiet paths) and the metric-file hooks.

Nothing here imports prometheus_client at module level: gunicorn's master loads this before it has set
PROMETHEUS_MULTIPROC_DIR, and a worker forked from a master that had imported it would count in memory only.
"""

import os
import shutil

from gunicorn.glogging import Logger

# Requests that gunicorn does not log: probes and scrapes (high volume, no news), and the OAuth endpoints, which
# Gatehouse logs itself as structured lines with the client, outcome and request id (ops/middleware.py).
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/oauth/token", "/oauth/introspect", "/oauth/revoke"})


def make_logger(log_format: str) -> type[Logger]:
    """gunicorn's logger class for `log_format` ("json" or "text", config.env.log_format)."""

    class GatehouseLogger(Logger):
        """gunicorn's logs as JSON lines (or gunicorn's text when debugging), without the quiet paths."""

        def setup(self, cfg):  # type: ignore[no-untyped-def]
            super().setup(cfg)
            if log_format == "json":
                from ops.logs import JsonFormatter

                for handler in self.error_log.handlers + self.access_log.handlers:
                    handler.setFormatter(JsonFormatter())

        def access(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
            if req.path in QUIET_PATHS or not self.access_log_enabled:
                return
            if log_format != "json":
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

    return GatehouseLogger


def clear_metric_files(folder: str) -> None:
    """Start from zero: files left by a previous run would be added to this run's counts."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def retire_worker(folder: str, pid: int) -> None:
    """A dead worker's counts stay in the totals, folded into one archive file per kind (fold_dead_worker)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
    fold_dead_worker(folder, pid)


def fold_dead_worker(folder: str, pid: int) -> None:
    """Add a dead worker's counters and histograms into `<kind>_archive.db` and delete its own files.

    Workers are recycled (max_requests) and each leaves its files behind; without folding, every scrape would
    read one more pair of files per recycled worker, forever. Only the master writes the archive. MmapedDict is
    prometheus_client's own file format (the reader MultiProcessCollector uses), so the archive reads as one more
    worker's file.
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


def remove_metric_folder(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
