"""gunicorn.conf.py: production defaults from the environment, command-line flags still win, quiet probes."""

import json
import os
import runpy
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from ops.gunicorn import fold_dead_worker

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def printed_config(tmp_path, *flags: str, **env: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GATEHOUSE_", "WEB_CONCURRENCY"))}
    environ.update(PROMETHEUS_MULTIPROC_DIR=str(tmp_path), **env)
    out = subprocess.run(
        [str(GUNICORN), "--print-config", *flags, "config.wsgi:application"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in out.splitlines()) if v}


@pytest.mark.slow  # a subprocess
def test_defaults_are_sync_workers_from_cpu_count_with_recycling_and_a_tmpfs_heartbeat(tmp_path):
    config = printed_config(tmp_path)
    assert config["worker_class"] == "sync"
    assert int(config["workers"]) == 2 * os.cpu_count() + 1
    assert config["bind"] == "['127.0.0.1:8000']"
    assert config["preload_app"] == "False"
    assert int(config["max_requests"]) > 0 and int(config["max_requests_jitter"]) > 0
    assert config["timeout"] == "30"
    assert config["worker_tmp_dir"] == "/dev/shm"


@pytest.mark.slow  # a subprocess
def test_environment_sets_workers_and_bind(tmp_path):
    config = printed_config(tmp_path, GATEHOUSE_WORKERS="5", GATEHOUSE_BIND="0.0.0.0:9000")
    assert config["workers"] == "5"
    assert config["bind"] == "['0.0.0.0:9000']"
    assert printed_config(tmp_path, WEB_CONCURRENCY="3")["workers"] == "3"


@pytest.mark.slow  # a subprocess
@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("GATEHOUSE_WORKERS", "many", "GATEHOUSE_WORKERS must be a whole number, got 'many'"),
        ("GATEHOUSE_TIMEOUT", "0", "GATEHOUSE_TIMEOUT must be at least 1, got 0"),
        ("GATEHOUSE_LOG_FORMAT", "xml", "GATEHOUSE_LOG_FORMAT must be json or text, got 'xml'"),
    ],
)
def test_a_bad_environment_value_stops_gunicorn_naming_it(tmp_path, name, value, says):
    with pytest.raises(subprocess.CalledProcessError) as refused:
        printed_config(tmp_path, **{name: value})
    assert says in refused.value.stderr


@pytest.mark.slow  # a subprocess
def test_command_line_flags_win_over_the_file_and_the_environment(tmp_path):
    config = printed_config(tmp_path, "-w", "2", "-b", "127.0.0.1:8303", GATEHOUSE_WORKERS="9")
    assert config["workers"] == "2"
    assert config["bind"] == "['127.0.0.1:8303']"


@pytest.fixture
def conf(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("GATEHOUSE_LOG_FORMAT", "text")
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def gunicorn_logger(conf):
    cfg = Config()
    cfg.set("accesslog", "-")
    return conf["logger_class"](cfg)


@pytest.mark.parametrize(
    ("path", "logged"),
    [("/healthz", False), ("/readyz", False), ("/metrics", False), ("/oauth/token", False), ("/admin/login/", True)],
)
def test_gunicorn_access_log_skips_probes_and_the_self_logged_oauth_endpoints(conf, monkeypatch, path, logged):
    calls = []
    monkeypatch.setattr(Logger, "access", lambda self, *args: calls.append(args))
    gunicorn_logger(conf).access(None, SimpleNamespace(path=path), {}, 0.001)
    assert bool(calls) is logged


def test_gunicorn_access_lines_are_json_with_the_request_id(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("GATEHOUSE_LOG_FORMAT", "json")
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    logger = gunicorn_logger(conf)
    resp = SimpleNamespace(status_code=302, sent=0, headers=[("Location", "/admin/"), ("X-Request-ID", "r-1")])
    req = SimpleNamespace(path="/admin/login/", method="POST")
    environ = {"REMOTE_ADDR": "10.0.0.7", "HTTP_USER_AGENT": 'curl/8 "quoted"'}

    logger.access(resp, req, environ, timedelta(milliseconds=12))

    entry = json.loads(capsys.readouterr().out)
    assert entry["logger"] == "gunicorn.access"
    assert entry["path"] == "/admin/login/"
    assert entry["status"] == 302
    assert entry["latency_ms"] == 12
    assert entry["request_id"] == "r-1"
    assert entry["user_agent"] == 'curl/8 "quoted"'


def test_hooks_clear_stale_metric_files_and_retire_dead_workers(conf, tmp_path, monkeypatch):
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    conf["on_starting"](None)
    assert list(tmp_path.iterdir()) == []

    retired = []
    monkeypatch.setattr("prometheus_client.multiprocess.mark_process_dead", retired.append)
    conf["child_exit"](None, SimpleNamespace(pid=4242))
    assert retired == [4242]


def test_a_recycled_workers_counts_are_folded_into_one_archive_and_its_files_removed(tmp_path):
    key = mmap_key("gatehouse_token_requests", "gatehouse_token_requests_total", ["outcome"], ["issued"], "help")

    def worker_file(pid: int, count: float) -> None:
        values = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        values.write_value(key, count, 0.0)
        values.close()

    worker_file(101, 5)
    worker_file(102, 7)
    worker_file(103, 11)  # still alive
    fold_dead_worker(str(tmp_path), 101)
    fold_dead_worker(str(tmp_path), 102)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_103.db", "counter_archive.db"]
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    assert registry.get_sample_value("gatehouse_token_requests_total", {"outcome": "issued"}) == 5 + 7 + 11
