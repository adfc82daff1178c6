"""The throttle's counters hold across workers and instances, with no cache settings at all, and nothing culls
them (issue 11, findings 3 and 4). Live gunicorn servers on one PostgreSQL database; skipped on SQLite."""

from __future__ import annotations

import os

import pytest
import requests

from tests import live

pytestmark = pytest.mark.skipif(
    not live.is_postgres(os.environ.get("DATABASE_URL", "")), reason="integration tests need PostgreSQL"
)

LIMIT = 5
# No GATEHOUSE_CACHE_URL: the default store. The tests speak for many addresses through a trusted proxy.
ENV = {"GATEHOUSE_AUTH_FAILURE_LIMIT": str(LIMIT), "GATEHOUSE_TRUSTED_PROXIES": "127.0.0.1/32"}
WRONG_SECRET = live.WRONG_SECRET


@pytest.fixture(scope="module")
def clients(live_database_url):
    return live.create_clients(live_database_url, {"victim": {}, "crowd": {}, "pods": {}})


def attempt(server, client_id, secret, address, session=requests):
    return session.post(
        server.url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        headers={"X-Forwarded-For": address},
        timeout=10,
    )


def test_a_block_counted_on_one_instance_holds_on_the_other_among_thousands_of_keys(live_database_url, clients):
    """Finding 3: Django's database cache culled block keys past 300 entries, so instance B forgot them."""
    a = live.start(live_database_url, workers=1, **ENV)
    b = live.start(live_database_url, workers=1, **ENV)
    try:
        victim, crowd = clients["victim"], clients["crowd"]
        session = requests.Session()
        for i in range(400):  # 400 (address, client id) counters before the block ...
            attempt(a, crowd["client_id"], WRONG_SECRET, f"10.77.{i // 200}.{i % 200}", session)
        statuses = [attempt(a, victim["client_id"], WRONG_SECRET, "198.51.100.50", session).status_code]
        statuses += [attempt(a, victim["client_id"], WRONG_SECRET, "198.51.100.50", session).status_code]
        for i in range(400):  # ... and 400 after it
            attempt(a, crowd["client_id"], WRONG_SECRET, f"10.78.{i // 200}.{i % 200}", session)
        for _ in range(LIMIT - 2):
            statuses.append(attempt(a, victim["client_id"], WRONG_SECRET, "198.51.100.50", session).status_code)
        assert statuses == [401] * LIMIT

        blocked = attempt(b, victim["client_id"], WRONG_SECRET, "198.51.100.50")
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "slow_down"
        valid = attempt(b, victim["client_id"], victim["client_secret"], "198.51.100.50")
        assert valid.status_code == 200  # the block is on failures: the valid secret is never refused
    finally:
        a.stop()
        b.stop()


def test_the_limit_holds_across_an_instances_workers(live_database_url, clients):
    """Finding 4: per-process counters allowed about one limit per worker."""
    server = live.start(live_database_url, workers=3, GATEHOUSE_CACHE_URL="", **ENV)  # "": as if never set
    try:
        pods = clients["pods"]
        # A new connection per request: gunicorn's sync workers take them in turn, whichever is free.
        statuses = [attempt(server, pods["client_id"], WRONG_SECRET, "198.51.100.60").status_code for _ in range(30)]
        assert statuses == [401] * LIMIT + [429] * (30 - LIMIT)
    finally:
        server.stop()
