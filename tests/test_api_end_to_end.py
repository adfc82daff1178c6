"""A pipeline's whole story over real HTTP: get a token from /oauth/token, then create, rotate and disable a client."""

import requests

from clients import services
from tests.api import WRITE
from tests.factories import ScopeFactory

READ = "gatehouse:clients:read"


def _token(base, client_id, secret, scope=None):
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return requests.post(f"{base}/oauth/token", data=form, auth=(client_id, secret), timeout=10)


def test_a_pipeline_registers_rotates_and_disables_a_client(live_server, transactional_db):
    base = live_server.url
    services.scope_create(name="orders.read", actor=services.Actor.cli())
    for name in (READ, WRITE):  # made by a migration, but an earlier live test's flush may have removed them
        ScopeFactory(name=name)
    pipeline = services.client_create(
        name="deploy-pipeline", scopes=[READ, WRITE, "orders.read"], actor=services.Actor.cli()
    )

    # 1. the pipeline gets a token for the management API with its own client credentials
    issued = _token(base, pipeline.client.client_id, pipeline.plaintext, f"{READ} {WRITE} orders.read")
    assert issued.status_code == 200, issued.text
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {issued.json()['access_token']}"

    # 2. it registers a service, retrying the request as pipelines do
    payload = {"name": "billing-job", "scopes": ["orders.read"], "token_ttl": 300}
    created = api.post(f"{base}/api/v1/clients/", json=payload, headers={"Idempotency-Key": "run-1"}, timeout=10)
    assert created.status_code == 201, created.text
    retried = api.post(f"{base}/api/v1/clients/", json=payload, headers={"Idempotency-Key": "run-1"}, timeout=10)
    assert retried.headers["Idempotent-Replayed"] == "true"
    client_id, first_secret = created.json()["client_id"], created.json()["client_secret"]
    assert retried.json()["client_id"] == client_id
    assert _token(base, client_id, first_secret).json()["scope"] == "orders.read"

    # 3. it rotates the new client's secret with a grace period: both secrets work for now
    rotated = api.post(f"{base}/api/v1/clients/{client_id}/rotate/", json={"grace_seconds": 3600}, timeout=10)
    assert rotated.status_code == 200, rotated.text
    second_secret = rotated.json()["client_secret"]
    assert _token(base, client_id, second_secret).status_code == 200
    assert _token(base, client_id, first_secret).status_code == 200
    states = [s["state"] for s in api.get(f"{base}/api/v1/clients/{client_id}/secrets/", timeout=10).json()]
    assert sorted(states) == ["active", "in grace"]

    # 4. it disables the client: no more tokens, and the one it had is dead
    live = _token(base, client_id, second_secret).json()["access_token"]
    disabled = api.post(f"{base}/api/v1/clients/{client_id}/disable/", timeout=10)
    assert disabled.json()["status"] == "disabled"
    assert _token(base, client_id, second_secret).status_code == 401
    assert (
        requests.get(f"{base}/api/v1/clients/", headers={"Authorization": f"Bearer {live}"}, timeout=10).status_code
        == 401
    )

    # 5. the audit trail names the pipeline for each change
    audit = requests.get(f"{base}/api/v1/audit-events/", params={"client": client_id}, headers=api.headers, timeout=10)
    assert audit.status_code == 403  # its token lacks gatehouse:audit:read
    actions = {(e.actor, e.action) for e in services.AuditEvent.objects.filter(client__client_id=client_id)}
    pid = pipeline.client.client_id
    assert {(pid, "client.create"), (pid, "secret.rotate"), (pid, "client.disable")} <= actions
