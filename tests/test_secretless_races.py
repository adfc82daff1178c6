"""Authority races for clients without a secret, against a live gunicorn on PostgreSQL (skipped on SQLite):
tokens a key minted while it is retired, or while its client is disabled, are dead when the change commits;
a replayed assertion sent from many connections at once is accepted once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from clients import services
from clients.services import Actor
from tests import jose
from tests.factories import ClientFactory, ClientKeyFactory, KeyClientFactory
from tests.live import current_database_url, running

pytestmark = [
    pytest.mark.slow,  # live gunicorn instances
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="races need PostgreSQL and a live server; SQLite serialises writes"
    ),
]
CLI = Actor.cli()
MINTERS = 4


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        url = current_database_url()
    with running(1, url, workers=4, GATEHOUSE_AUTH_FAILURE_LIMIT="1000000") as (server,):
        yield server


@pytest.fixture
def server(live, transactional_db):
    return live


@pytest.fixture
def audience(server):
    return requests.get(server.url + "/.well-known/oauth-authorization-server", timeout=10).json()["issuer"]


def grant(server, assertion, session=requests):
    form = {"grant_type": "client_credentials", **jose.assertion_form(assertion)}
    return session.post(server.url + "/oauth/token", data=form, timeout=10)


def introspect_all(server, rs, tokens):
    def one(value):
        response = requests.post(
            server.url + "/oauth/introspect", data={"token": value}, auth=(rs.client_id, rs.secret), timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()["active"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, tokens))


def mint_around(server, client, key, audience, change, *, warmup=8, after=0.05):
    stop = threading.Event()
    issued: list[str] = []

    def mint():
        session = requests.Session()
        while not stop.is_set():
            response = grant(server, jose.sign(key, jose.claims_for(client.client_id, audience)), session)
            if response.status_code == 200:
                issued.append(response.json()["access_token"])

    with ThreadPoolExecutor(MINTERS) as pool:
        futures = [pool.submit(mint) for _ in range(MINTERS)]
        deadline = time.monotonic() + 10
        while len(issued) < warmup and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            change()
            time.sleep(after)
        finally:
            stop.set()
        for future in futures:
            future.result()
    return issued


ROUNDS = 4


def test_tokens_a_key_minted_while_it_is_retired_are_dead_and_the_other_keys_live(server, audience):
    rs = ClientFactory(can_introspect=True)
    victim = KeyClientFactory()
    leaked = victim.private_key
    dead: list[str] = []
    live_ones: list[str] = []
    for n in range(ROUNDS):
        fresh = jose.ec_key(f"ec-next-{n}")
        ClientKeyFactory(client=victim, key=fresh)
        live_ones.append(
            grant(server, jose.sign(fresh, jose.claims_for(victim.client_id, audience))).json()["access_token"]
        )
        kid = leaked.kid
        dead += mint_around(
            server,
            victim,
            leaked,
            audience,
            lambda kid=kid: services.client_key_retire(client=victim, kid=kid, actor=CLI),
        )
        leaked = fresh
    verdicts = introspect_all(server, rs, dead + live_ones)
    alive = [t for t, active in zip(dead, verdicts[: len(dead)], strict=True) if active]
    assert len(dead) > ROUNDS * 8
    assert alive == [], f"{len(alive)} of {len(dead)} tokens of retired keys are active"
    assert verdicts[-1] is True  # the last round's new key is not retired


def test_tokens_minted_while_a_key_client_is_disabled_are_dead_and_enable_revives_none(server, audience):
    rs = ClientFactory(can_introspect=True)
    victim = KeyClientFactory()
    issued: list[str] = []
    for _ in range(ROUNDS):
        issued += mint_around(
            server, victim, victim.private_key, audience, lambda: services.client_disable(client=victim, actor=CLI)
        )
        services.client_enable(client=victim, actor=CLI)
    assert len(issued) > ROUNDS * 8
    assert not any(introspect_all(server, rs, issued))


def test_one_assertion_sent_at_once_from_many_connections_is_accepted_once(server, audience):
    victim = KeyClientFactory()
    for _ in range(5):
        assertion = jose.sign(victim.private_key, jose.claims_for(victim.client_id, audience))
        barrier = threading.Barrier(8)

        def send(_, barrier=barrier, assertion=assertion):
            session = requests.Session()
            barrier.wait()
            return grant(server, assertion, session).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = sorted(pool.map(send, range(8)))
        assert codes == [200] + [401] * 7
