"""Attacks on authority that race a change, against a live gunicorn on PostgreSQL (skipped on SQLite).

The server runs on the test database itself, so the tests make their clients and changes in-process
(transactional_db commits them at once) and attack over HTTP, as a pipeline or a stolen token would.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import quote

import pytest
import requests
from django.db import connection

from clients import services
from clients.models import Client, Scope
from clients.services import Actor
from tests.api import ADMIN, WRITE
from tests.factories import ClientFactory, ScopeFactory
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
    # Minting threads keep asking after a client is disabled: their refusals must not block the test's address.
    with running(1, url, workers=4, GATEHOUSE_AUTH_FAILURE_LIMIT="1000000") as (server,):
        yield server


@pytest.fixture
def server(live, transactional_db):
    return live


@pytest.fixture
def resource_server(transactional_db):
    return ClientFactory(name="orders-api", can_introspect=True)


def get_token(server, client_id: str, secret: str, session=requests, **form: str) -> requests.Response:
    return session.post(
        server.url + "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        auth=(client_id, secret),
        timeout=10,
    )


def introspect_all(server, rs, tokens: list[str]) -> list[dict]:
    def one(value: str) -> dict:
        response = requests.post(
            server.url + "/oauth/introspect", data={"token": value}, auth=(rs.client_id, rs.secret), timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, tokens))


def mint_around(server, client_id: str, secret: str, change, *, warmup: int = 8, after: float = 0.05) -> list[dict]:
    """Token answers (200 bodies) from MINTERS threads asking for tokens before, while and just after `change()`."""
    stop = threading.Event()
    issued: list[dict] = []

    def mint() -> None:
        session = requests.Session()
        while not stop.is_set():
            response = get_token(server, client_id, secret, session)
            if response.status_code == 200:
                issued.append(response.json())

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


# Finding 4: tokens minted while a client is disabled survive, and come back on enable.
DISABLE_ROUNDS = 5  # on the old code every round left 3-4 of its ~15 tokens alive


def test_tokens_minted_while_a_client_is_disabled_are_dead_and_enable_revives_none(server, resource_server):
    victim = ClientFactory(scopes=["orders.read"])
    issued: list[str] = []
    for _ in range(DISABLE_ROUNDS):
        answers = mint_around(
            server, victim.client_id, victim.secret, lambda: services.client_disable(client=victim, actor=CLI)
        )
        issued += [answer["access_token"] for answer in answers]
        services.client_enable(client=victim, actor=CLI)
    assert len(issued) > DISABLE_ROUNDS * 8
    alive = [
        t for t, info in zip(issued, introspect_all(server, resource_server, issued), strict=True) if info["active"]
    ]
    assert alive == [], f"{len(alive)} of {len(issued)} tokens minted before a disable are active after enable"
    # Enabling works: a new token is live.
    fresh = get_token(server, victim.client_id, victim.secret).json()["access_token"]
    assert introspect_all(server, resource_server, [fresh])[0]["active"] is True


RETIRE_ROUNDS = 5


def test_tokens_minted_with_a_secret_while_it_is_retired_are_dead_and_the_others_live(server, resource_server):
    victim = ClientFactory(scopes=["orders.read"])
    leaked, leaked_pk = victim.secret, victim.secret_row.pk
    from_leaked: list[str] = []
    from_new: list[str] = []
    for _ in range(RETIRE_ROUNDS):
        # The owner rotates (the old secret keeps working for a while) and then retires the leaked one.
        new = services.client_rotate_secret(client=victim, grace=timedelta(hours=1), actor=CLI)
        from_new.append(get_token(server, victim.client_id, new.plaintext).json()["access_token"])
        secret = victim.secrets.get(pk=leaked_pk)
        answers = mint_around(
            server, victim.client_id, leaked, lambda secret=secret: services.secret_retire(secret=secret, actor=CLI)
        )
        from_leaked += [answer["access_token"] for answer in answers]
        leaked, leaked_pk = new.plaintext, new.secret.pk
    verdicts = introspect_all(server, resource_server, from_leaked + from_new)
    alive = [t for t, info in zip(from_leaked, verdicts[: len(from_leaked)], strict=True) if info["active"]]
    assert alive == [], f"{len(alive)} of {len(from_leaked)} tokens of retired secrets are active"
    # Retiring is precise: the last round's new secret is not retired, and its token is live.
    assert verdicts[-1]["active"] is True


SCOPE_ROUNDS = 5


def test_tokens_minted_while_a_scope_is_removed_are_dead_and_adding_it_back_revives_none(server, resource_server):
    victim = ClientFactory(scopes=["orders.read", "orders.write"])
    before_removal: list[str] = []
    narrow = ""
    for _ in range(SCOPE_ROUNDS):
        answers = mint_around(
            server,
            victim.client_id,
            victim.secret,
            lambda: services.client_update(client=victim, actor=CLI, scopes=["orders.read"]),
        )
        # Whatever was issued with the removed scope must be dead; tokens issued after the removal may live.
        before_removal += [a["access_token"] for a in answers if "orders.write" in a["scope"].split()]
        narrow = get_token(server, victim.client_id, victim.secret).json()["access_token"]
        services.client_update(client=victim, actor=CLI, scopes=["orders.read", "orders.write"])
    verdicts = introspect_all(server, resource_server, before_removal)
    alive = [t for t, info in zip(before_removal, verdicts, strict=True) if info["active"]]
    assert alive == [], f"{len(alive)} of {len(before_removal)} tokens carrying a removed scope are active"
    # Adding a scope takes nothing away: the token issued after the last removal stays live, and new tokens
    # carry the scope again.
    info = introspect_all(server, resource_server, [narrow])[0]
    assert (info["active"], info["scope"]) == (True, "orders.read")
    fresh = get_token(server, victim.client_id, victim.secret).json()
    assert fresh["scope"] == "orders.read orders.write"
    assert introspect_all(server, resource_server, [fresh["access_token"]])[0]["active"] is True


# Finding 1: a writer grants itself a scope nobody holds by deleting it and racing its re-creation with PATCHes.
GRANT_ROUNDS = 12  # the old code lost in the first or second round
PATCHES = 8


def api(server, method: str, path: str, token: str, body: dict | None = None) -> requests.Response:
    return requests.request(
        method, server.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


@pytest.mark.parametrize("prize", [ADMIN, "payments.admin"])
def test_a_writer_cannot_grant_itself_a_scope_nobody_holds_by_racing_delete_and_recreate(server, prize):
    ScopeFactory(name=WRITE)
    ScopeFactory(name=prize)
    assert not Client.objects.filter(scopes__name=prize).exists()  # nobody holds it: deleting it is allowed
    writer = ClientFactory(scopes=[WRITE])
    token = get_token(server, writer.client_id, writer.secret).json()["access_token"]
    scope_path = f"/api/v1/scopes/{quote(prize, safe='')}/"
    own_path = f"/api/v1/clients/{writer.client_id}/"
    statuses: list[int] = []
    for _ in range(GRANT_ROUNDS):
        statuses.append(api(server, "DELETE", scope_path, token).status_code)
        with ThreadPoolExecutor(PATCHES + 1) as pool:
            attempts = [pool.submit(api, server, "PATCH", own_path, token, {"scopes": [WRITE, prize]})]
            attempts += [pool.submit(api, server, "POST", "/api/v1/scopes/", token, {"name": prize})]
            attempts += [
                pool.submit(api, server, "PATCH", own_path, token, {"scopes": [WRITE, prize]})
                for _ in range(PATCHES - 1)
            ]
            statuses += [attempt.result().status_code for attempt in attempts]
        if prize in Client.objects.get(pk=writer.pk).scope_names():
            break
        if not Scope.objects.filter(name=prize).exists():
            ScopeFactory(name=prize)  # the POST lost to a DELETE of this round: put it back for the next
    assert prize not in Client.objects.get(pk=writer.pk).scope_names()
    assert all(status < 500 for status in statuses), statuses
    assert 200 not in statuses


DELETE_ROUNDS = 12


def test_a_grant_racing_the_deletion_of_its_scope_gets_a_clear_answer_and_the_registry_stays_whole(server):
    ScopeFactory(name=ADMIN)
    admin = ClientFactory(scopes=[ADMIN])
    target = ClientFactory()
    token = get_token(server, admin.client_id, admin.secret).json()["access_token"]
    for round_ in range(DELETE_ROUNDS):
        name = f"reports.read.{round_}"
        ScopeFactory(name=name)
        with ThreadPoolExecutor(2) as pool:
            grant = pool.submit(api, server, "PATCH", f"/api/v1/clients/{target.client_id}/", token, {"scopes": [name]})
            delete = pool.submit(api, server, "DELETE", f"/api/v1/scopes/{name}/", token)
            granted, deleted = grant.result(), delete.result()
        outcome = (granted.status_code, granted.json()["error"] if granted.status_code != 200 else "")
        outcome += (deleted.status_code, deleted.json()["error"] if deleted.status_code != 204 else "")
        # Either the grant committed first and the scope is in use, or the deletion did and the scope is unknown.
        assert outcome in {(200, "", 409, "scope_in_use"), (400, "invalid_request", 204, "")}, outcome
        held = name in Client.objects.get(pk=target.pk).scope_names()
        assert held == (granted.status_code == 200)
        assert Scope.objects.filter(name=name).exists() == held


CROSS_ROUNDS = 10


def test_two_admins_changing_each_other_at_once_never_deadlock(server):
    """Each write locks the caller's client and the target's in one statement ordered by pk (a guard, not an
    attack: locking the caller first and the target second would deadlock here)."""
    ScopeFactory(name=ADMIN)
    a, b = ClientFactory(name="a", scopes=[ADMIN]), ClientFactory(name="b", scopes=[ADMIN])
    tokens = {c.pk: get_token(server, c.client_id, c.secret).json()["access_token"] for c in (a, b)}
    statuses = []
    for round_ in range(CROSS_ROUNDS):
        with ThreadPoolExecutor(2) as pool:
            pair = [
                pool.submit(
                    api,
                    server,
                    "PATCH",
                    f"/api/v1/clients/{them.client_id}/",
                    tokens[me.pk],
                    {"description": f"{round_}"},
                )
                for me, them in ((a, b), (b, a))
            ]
            statuses += [future.result().status_code for future in pair]
    assert statuses == [200] * 2 * CROSS_ROUNDS
