"""Metrics under real gunicorn workers that are recycled: totals survive and metric files do not pile up."""

import pytest
import requests
from django.db import connection

from tests.factories import ClientFactory
from tests.live import current_database_url, running

pytestmark = [
    pytest.mark.slow,  # live gunicorn instances
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the instance shares a PostgreSQL database; SQLite tests run in memory",
    ),
]


def test_counts_survive_worker_recycling_and_dead_workers_are_folded_away(transactional_db):
    service = ClientFactory()
    with running(1, current_database_url(), workers=2, GATEHOUSE_MAX_REQUESTS="3") as [instance]:
        for _ in range(12):  # each worker is replaced after 3 requests
            response = requests.post(
                instance.url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(service.client_id, service.secret),
                timeout=10,
            )
            assert response.status_code == 200
        body = requests.get(instance.url + "/metrics", timeout=10).text
        files = sorted(p.name for p in instance.metrics_dir.iterdir())
        log = instance.log()

    assert log.count("Autorestarting worker") >= 2
    assert f'gatehouse_token_requests_total{{client_id="{service.client_id}",outcome="issued"}} 12.0' in body
    assert "counter_archive.db" in files
    assert len([name for name in files if name.startswith("counter_")]) <= 1 + 3  # archive + live workers (+1 exiting)
