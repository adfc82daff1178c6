"""The database going away (connections reset and refused, or black-holed) and coming back: the OAuth endpoints
answer 503 temporarily_unavailable within the connect timeout, and serve again without a restart. Live gunicorn
on PostgreSQL, through a TCP relay the test cuts (tests/live.py TcpProxy)."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests import live

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not live.is_postgres(os.environ.get("DATABASE_URL", "")), reason="needs PostgreSQL"),
    pytest.mark.usefixtures("no_failures_counted"),
]

CONNECT_TIMEOUT = 2  # seconds: libpq's minimum (DATABASE_CONNECT_TIMEOUT is 3 by default)


@pytest.mark.parametrize("outage", ["refuse", "silent"])
def test_database_outage_answers_503_quickly_and_service_resumes_without_restart(
    live_database_url, live_clients, outage
):
    client = live_clients[f"job-{outage}"]
    credentials = (client["client_id"], client["client_secret"])
    target = urlsplit(live_database_url)
    proxy = live.TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    server = live.start(live.via(proxy, live_database_url), workers=2, DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT))
    try:
        assert live.token(server, *credentials).status_code == 200
        proxy.cut(outage)
        # Each of the 2 workers may hold a dead kept-alive connection: the third request at least must reconnect
        # (and, when the database is silent, wait out the connect timeout).
        for _ in range(3):
            started = time.monotonic()
            response = live.token(server, *credentials)
            elapsed = time.monotonic() - started
            assert response.status_code == 503
            assert response.json()["error"] == "temporarily_unavailable"
            assert response.headers["Retry-After"] == "1"
            assert elapsed < CONNECT_TIMEOUT + 2  # a margin for a loaded CI machine; never the kernel's minutes
        if outage == "refuse":
            metadata = requests.get(server.url + "/.well-known/oauth-authorization-server", timeout=10)
            assert metadata.status_code == 503
        proxy.restore()
        # A worker that served nothing during the outage still holds its cut connection: its first request
        # finds it dead, drops it and is served again on a fresh connection (tokens.views.OAuthView.post).
        statuses = [live.token(server, *credentials).status_code for _ in range(8)]
        assert statuses == [200] * 8, statuses
        assert live.token(server, *credentials).status_code == 200
        assert "Traceback" not in server.log(), server.log()
    finally:
        server.stop()
        proxy.close()
