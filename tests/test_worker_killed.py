"""A gunicorn worker killed under load loses at most the request it was serving; gunicorn replaces it and every
token issued is stored and live. Live gunicorn on PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from tests import live

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not live.is_postgres(os.environ.get("DATABASE_URL", "")), reason="needs PostgreSQL"),
    pytest.mark.usefixtures("no_failures_counted"),
]
DEADLINE = 30  # seconds: the hammering threads stop by then whatever happens


def test_a_worker_killed_during_load_loses_at_most_its_requests_in_flight(live_database_url, live_clients):
    server = live.start(live_database_url, workers=2)
    client, rs = live_clients["job-d"], live_clients["orders-api"]
    stop = threading.Event()
    deadline = time.monotonic() + DEADLINE
    issued: list[str] = []
    statuses: list[int] = []
    errors: list[str] = []

    def hammer():
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                response = live.token(server, client["client_id"], client["client_secret"])
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
        time.sleep(0.3)  # load first: the kill must land while requests are in flight
        victim = live.worker_pids(server)[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=DEADLINE)
        assert victim not in live.worker_pids(server)  # gunicorn replaced it
        assert len(live.worker_pids(server)) == 2
        # A sync worker serves one request at a time: only the one it was handling can fail.
        assert len(errors) <= 1, errors
        assert set(statuses) == {200}
        assert len(issued) > 10
        assert len(live.unrevoked_in_database(live_database_url, issued)) == len(issued)
        assert all(live.introspect(server, rs["client_id"], rs["client_secret"], t)["active"] for t in issued[-10:])
    finally:
        stop.set()
        server.stop()
