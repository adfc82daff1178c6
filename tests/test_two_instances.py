"""Two gunicorn instances on one PostgreSQL database behave as one service: nothing lives in a process (tokens,
revocation, disabling, failure counts, metrics)."""

import json

import pytest
import requests
from django.db import connection

from clients import services
from clients.services import Actor
from tests.factories import ClientFactory
from tests.live import WRONG_SECRET, current_database_url, running

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="instances share a PostgreSQL database; SQLite tests run in memory"
    ),
]
FAILURE_LIMIT = 5


@pytest.fixture(scope="module")
def pair(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        url = current_database_url()
    with running(2, url, workers=2, GATEHOUSE_AUTH_FAILURE_LIMIT=str(FAILURE_LIMIT)) as started:
        yield started


@pytest.fixture
def instances(pair, transactional_db):
    """Started once for the module; each test commits its own clients (transactional_db), visible to both."""
    return pair


def metric(instance, sample: str) -> float:
    for line in requests.get(instance.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def token(instance, client) -> str:
    response = requests.post(
        instance.url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def introspect(instance, caller, value: str) -> dict:
    response = requests.post(
        instance.url + "/oauth/introspect", data={"token": value}, auth=(caller.client_id, caller.secret), timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_token_from_one_instance_is_active_on_the_other_and_revocation_on_either_ends_it(instances):
    a, b = instances
    service = ClientFactory(scopes=["read"])
    rs = ClientFactory(can_introspect=True)

    first = token(a, service)
    assert introspect(b, rs, first)["active"] is True
    assert introspect(a, rs, first)["active"] is True

    revoked = requests.post(
        b.url + "/oauth/revoke", data={"token": first}, auth=(service.client_id, service.secret), timeout=10
    )
    assert revoked.status_code == 200
    assert introspect(a, rs, first) == {"active": False}

    second = token(b, service)
    assert introspect(a, rs, second)["active"] is True


def test_disabling_a_client_takes_effect_on_every_instance_at_once(instances):
    a, b = instances
    service = ClientFactory(scopes=["read"])
    rs = ClientFactory(can_introspect=True)
    tokens = [token(a, service), token(b, service)]

    services.client_disable(client=service, actor=Actor.cli())

    for instance in instances:
        for value in tokens:
            assert introspect(instance, rs, value) == {"active": False}
        refused = requests.post(
            instance.url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(service.client_id, service.secret),
            timeout=10,
        )
        assert refused.status_code == 401


def test_failed_authentication_counts_across_instances(instances):
    a, b = instances
    service = ClientFactory()

    def attempt(instance, secret):
        return requests.post(
            instance.url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(service.client_id, secret),
            timeout=10,
        )

    assert [attempt(a, WRONG_SECRET).status_code for _ in range(FAILURE_LIMIT)] == [401] * FAILURE_LIMIT
    blocked = attempt(b, WRONG_SECRET)  # the limit was reached on instance a
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "slow_down"
    assert int(blocked.headers["Retry-After"]) > 0
    assert attempt(b, service.secret).status_code == 200  # never the valid secret


def test_metrics_count_requests_across_an_instances_workers_and_logs_are_json_lines(instances):
    a, _ = instances
    service = ClientFactory(scopes=["read"])
    served_before = metric(a, 'gatehouse_request_duration_seconds_count{endpoint="token"}')
    for _ in range(8):
        token(a, service)

    assert metric(a, f'gatehouse_token_requests_total{{client_id="{service.client_id}",outcome="issued"}}') == 8
    assert metric(a, 'gatehouse_request_duration_seconds_count{endpoint="token"}') == served_before + 8
    assert metric(a, "gatehouse_live_tokens") == 8

    lines = [json.loads(line) for line in a.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "gatehouse.access" and line["client_id"] == service.client_id]
    assert len(access) == 8
    assert {(line["endpoint"], line["outcome"], line["status"]) for line in access} == {("token", "issued", 200)}
    assert service.secret not in a.log()
