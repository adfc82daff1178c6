"""Idempotency-Key on client creates: a retry returns the same client, never a second one, never the secret again."""

import threading

import pytest
import time_machine
from django.db import IntegrityError, connection
from django.utils import timezone

from api import services
from api.models import IdempotencyKey
from clients.models import AuditEvent, Client
from clients.services import Actor
from tests.api import ADMIN, WRITE, ApiHttp, assert_error
from tests.factories import AccessTokenFactory, ClientFactory

URL = "/api/v1/clients/"
BODY = {"name": "billing-job", "token_ttl": 600}


def _create(api, body=BODY, key="deploy-42"):
    return api.post(URL, body, HTTP_IDEMPOTENCY_KEY=key)


def test_a_retry_returns_the_same_client_without_its_secret(api):
    api.login(WRITE)
    first = _create(api)
    again = _create(api)
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["client_id"] == first.json()["client_id"]
    assert "client_secret" in first.json() and "client_secret" not in again.json()
    assert first.json()["client_secret"] not in again.content.decode()
    assert Client.objects.filter(name="billing-job").count() == 1
    assert AuditEvent.objects.filter(action="client.create").count() == 1


def test_the_same_request_with_its_fields_reordered_is_a_retry(api):
    api.login(WRITE)
    first = _create(api, {"name": "x", "scopes": [WRITE, "gatehouse:clients:write"]})
    again = _create(api, {"scopes": ["gatehouse:clients:write"], "name": "x"})
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["client_id"] == first.json()["client_id"]


def test_the_same_key_with_a_different_request_is_refused(api):
    api.login(WRITE)
    _create(api)
    assert_error(_create(api, {**BODY, "token_ttl": 60}), 422, "idempotency_key_reused")
    assert Client.objects.filter(name="billing-job").count() == 1


def test_different_keys_create_different_clients(api):
    api.login(WRITE)
    assert _create(api, key="a").json()["client_id"] != _create(api, key="b").json()["client_id"]


def test_keys_belong_to_the_calling_client(api):
    api.login(WRITE)
    first = _create(api).json()["client_id"]
    other = ApiHttp()
    other.login(WRITE)
    assert _create(other).json()["client_id"] != first


def test_a_refused_create_is_not_remembered(api):
    api.login(ADMIN)  # holds every name, so the unknown scope is a 400
    assert _create(api, {"name": "x", "scopes": ["nope"]}).status_code == 400
    assert _create(api, {"name": "x"}).status_code == 201
    assert not IdempotencyKey.objects.filter(client__name="nope").exists()


def test_a_key_may_be_reused_after_a_day(api):
    caller = api.login(WRITE)
    first = _create(api).json()["client_id"]
    with time_machine.travel(timezone.now() + timezone.timedelta(hours=25)):
        api.token = AccessTokenFactory(client=caller, scope=WRITE).plaintext  # the first one has expired
        second = _create(api)
    assert second.status_code == 201 and "client_secret" in second.json()
    assert second.json()["client_id"] != first
    assert IdempotencyKey.objects.get(caller=caller, key="deploy-42").client.client_id == second.json()["client_id"]


def test_a_callers_expired_keys_are_removed_on_its_next_create(api):
    caller = api.login(WRITE)
    _create(api, key="old")
    with time_machine.travel(timezone.now() + timezone.timedelta(hours=25)):
        api.token = AccessTokenFactory(client=caller, scope=WRITE).plaintext
        _create(api, key="new")
    assert list(IdempotencyKey.objects.filter(caller=caller).values_list("key", flat=True)) == ["new"]


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "with space"])
def test_a_malformed_key_is_refused(api, key):
    api.login(WRITE)
    body = assert_error(_create(api, key=key), 400, "invalid_request")
    assert "Idempotency-Key" in body["fields"]
    assert not Client.objects.filter(name="billing-job").exists()


def test_the_database_refuses_two_creates_under_one_key(db):
    caller = ClientFactory()
    IdempotencyKey.objects.create(caller=caller, key="k", fingerprint="f", client=ClientFactory())
    with pytest.raises(IntegrityError):
        IdempotencyKey.objects.create(caller=caller, key="k", fingerprint="f", client=ClientFactory())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers: PostgreSQL (CI runs it)")
def test_concurrent_retries_create_one_client(transactional_db, monkeypatch):
    caller = ClientFactory()
    both_created = threading.Barrier(2, timeout=10)
    create = services.client_create

    def create_then_wait(**kwargs):
        new = create(**kwargs)
        both_created.wait()  # both requests are past the key lookup and have made a client
        return new

    monkeypatch.setattr(services, "client_create", create_then_wait)
    results = []

    def attempt():
        try:
            results.append(
                services.client_create_idempotent(caller_pk=caller.pk, key="k", actor=Actor.cli(), name="billing-job")
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results) == ["NewSecret", "Replay"]
    assert results[0].client.pk == results[1].client.pk
    assert Client.objects.filter(name="billing-job").count() == 1
