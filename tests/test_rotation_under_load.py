"""Rotating a secret twice while twenty threads ask for tokens with every secret in grace: no request fails, every
token issued is live and stored. Live gunicorn on PostgreSQL."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests import live

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not live.is_postgres(os.environ.get("DATABASE_URL", "")), reason="needs PostgreSQL"),
    pytest.mark.usefixtures("no_failures_counted"),
]

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
DEADLINE = 60  # seconds: the hammering threads stop by then even if the rotation never ends


def test_twenty_threads_get_tokens_while_the_secret_is_rotated_twice(live_database_url, live_clients):
    server = live.start(live_database_url, workers=3)
    client, rs = live_clients["billing-job"], live_clients["orders-api"]
    secrets = [client["client_secret"]]  # every secret listed here is valid: the old ones are in grace
    stop = threading.Event()
    outcomes: list[tuple[int, str]] = []
    deadline = time.monotonic() + DEADLINE

    def hammer():
        session = requests.Session()
        while not stop.is_set() and time.monotonic() < deadline:
            response = live.token(server, client["client_id"], random.choice(secrets), session)
            outcomes.append((response.status_code, response.json().get("access_token", response.text)))

    try:
        with ThreadPoolExecutor(20) as pool:
            for _ in range(20):
                pool.submit(hammer)
            script = ROTATE_TWICE.format(client_id=client["client_id"])
            rotation = subprocess.Popen(
                [sys.executable, "manage.py", "shell", "-v", "0", "-c", script],
                cwd=live.ROOT,
                env=live.command_env(live_database_url),
                stdout=subprocess.PIPE,
                text=True,
            )
            assert rotation.stdout is not None
            for line in rotation.stdout:
                if line.startswith("gth_cs_"):
                    secrets.append(line.strip())  # printed once committed: from then on it must work
            assert rotation.wait(timeout=DEADLINE) == 0
            stop.set()
        assert len(secrets) == 3
        assert len(outcomes) > 50
        assert [text for status, text in outcomes if status != 200] == []
        sample = random.sample([t for _, t in outcomes], 50)
        assert all(live.introspect(server, rs["client_id"], rs["client_secret"], t)["active"] for t in sample)
        assert len(live.unrevoked_in_database(live_database_url, [t for _, t in outcomes])) == len(outcomes)
    finally:
        stop.set()
        server.stop()
