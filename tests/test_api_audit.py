"""/api/v1/audit-events/: the audit trail, filtered by client, actor, action and time."""

from datetime import UTC, datetime

import pytest

from tests.api import AUDIT, assert_error
from tests.factories import AuditEventFactory, ClientFactory

URL = "/api/v1/audit-events/"


@pytest.fixture
def events(db):
    billing = ClientFactory(name="billing")
    return {
        "old": AuditEventFactory(
            at=datetime(2026, 1, 1, tzinfo=UTC),
            actor="alice",
            action="client.create",
            client=billing,
            target=billing.client_id,
        ),
        "mid": AuditEventFactory(
            at=datetime(2026, 6, 1, tzinfo=UTC),
            actor="gth_ci_pipeline",
            actor_type="api",
            action="secret.rotate",
            client=billing,
            target=billing.client_id,
        ),
        "new": AuditEventFactory(
            at=datetime(2026, 9, 1, tzinfo=UTC), actor="alice", action="scope.create", target="orders.read"
        ),
    }


def _ids(api, params=None):
    return [e["id"] for e in api.get(URL, params).json()["results"]]


def test_list_shows_events_newest_first(api, events):
    api.login(AUDIT)
    body = api.get(URL).json()
    assert [e["id"] for e in body["results"]] == [events[k].pk for k in ("new", "mid", "old")]
    mid = body["results"][1]
    assert mid == {
        "id": events["mid"].pk,
        "at": "2026-06-01T00:00:00Z",
        "actor_type": "api",
        "actor": "gth_ci_pipeline",
        "address": None,
        "action": "secret.rotate",
        "client": events["mid"].client.client_id,
        "target": events["mid"].client.client_id,
        "changes": {},
    }
    assert body["results"][0]["client"] is None


def test_list_filters_by_client_actor_action_and_time(api, events):
    api.login(AUDIT)
    billing = events["old"].client.client_id
    assert _ids(api, {"client": billing}) == [events["mid"].pk, events["old"].pk]
    assert _ids(api, {"actor": "alice"}) == [events["new"].pk, events["old"].pk]
    assert _ids(api, {"actor_type": "api"}) == [events["mid"].pk]
    assert _ids(api, {"action": "scope.create"}) == [events["new"].pk]
    assert _ids(api, {"since": "2026-06-01T00:00:00Z", "until": "2026-09-01T00:00:00Z"}) == [events["mid"].pk]
    assert _ids(api, {"actor": "alice", "since": "2026-02-01T00:00:00Z"}) == [events["new"].pk]


def test_the_api_records_itself_in_the_trail(api):
    caller = api.login(AUDIT, "gatehouse:clients:write")
    api.post("/api/v1/scopes/", {"name": "orders.read"})
    assert _ids(api, {"actor": caller.client_id, "action": "scope.create"})


@pytest.mark.parametrize(
    ("params", "field"),
    [({"since": "yesterday"}, "since"), ({"actor_type": "robot"}, "actor_type"), ({"who": "me"}, "who")],
)
def test_list_refuses_bad_filters_naming_the_field(api, params, field):
    api.login(AUDIT)
    body = assert_error(api.get(URL, params), 400, "invalid_request")
    assert field in body["fields"]
