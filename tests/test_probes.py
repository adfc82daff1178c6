"""Liveness and readiness probes: cheap, unauthenticated, and honest about the database."""

import pytest
from django.db import OperationalError
from django.test import override_settings

from ops import probes


@pytest.fixture(autouse=True)
def fresh_readiness():
    probes.state.migrated = False
    yield
    probes.state.migrated = False


def test_healthz_answers_ok_without_touching_the_database(client):
    response = client.get("/healthz")  # no `db` fixture: any query would fail the test
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_answers_ok_when_the_database_answers_and_migrations_are_applied(db, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_migrations_once_then_costs_one_query(db, client, django_assert_num_queries):
    client.get("/readyz")
    with django_assert_num_queries(1):
        assert client.get("/readyz").status_code == 200


def test_readyz_is_unavailable_while_migrations_are_pending(db, client, monkeypatch):
    monkeypatch.setattr(probes, "pending_migrations", lambda: 3)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "migrations pending"}


def test_readyz_is_unavailable_when_the_database_is_unreachable(db, client, monkeypatch):
    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(probes, "pending_migrations", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "database unreachable"}


@override_settings(ALLOWED_HOSTS=["gatehouse.example"], SECURE_SSL_REDIRECT=True)
def test_probes_answer_any_host_over_plain_http_as_orchestrators_call_them(db, client):
    # A kubelet calls http://<pod address>:8000/healthz: neither the Host check nor the HTTPS redirect applies.
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/oauth/token", HTTP_HOST="10.1.2.3:8000").status_code == 400  # the real endpoints do check


def test_probes_are_not_written_to_the_access_log(db, client, caplog):
    with caplog.at_level("INFO"):
        client.get("/healthz")
        client.get("/readyz")
    assert [r for r in caplog.records if r.name == "gatehouse.access"] == []


def test_an_unready_instance_is_not_logged(db, client, monkeypatch, caplog):
    """Finding 6: a 503 from /readyz was logged at error level by django.request, though probes never are."""

    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(probes, "pending_migrations", unreachable)
    with caplog.at_level("DEBUG"):
        assert client.get("/readyz").status_code == 503
        assert client.post("/healthz").status_code in (200, 405)
    assert [(r.name, r.getMessage()) for r in caplog.records if r.name.startswith(("django", "gatehouse"))] == []
