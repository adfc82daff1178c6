"""/api/v1/clients/: list, register, show and change clients."""

import pytest

from clients.models import AuditEvent, Client
from tests.api import ADMIN, READ, RESOURCE_SERVERS, WRITE, assert_error
from tests.factories import ClientFactory, ResourceServerFactory, ScopeFactory

URL = "/api/v1/clients/"


@pytest.fixture
def writer(api):
    ScopeFactory(name="orders.read")
    return api.login(READ, WRITE, "orders.read")


def test_list_shows_clients_without_secrets(api):
    target = ClientFactory(name="billing", scopes=["orders.read"])
    api.login(READ)
    body = api.get(URL).json()
    assert body["count"] == 2
    listed = {c["client_id"]: c for c in body["results"]}
    assert listed[target.client_id] == {
        "client_id": target.client_id,
        "name": "billing",
        "description": "",
        "owner": "",
        "contact": "",
        "scopes": ["orders.read"],
        "can_introspect": False,
        "resource": None,
        "token_ttl": 3600,
        "status": "active",
        "auth_method": "client_secret",
        "jwks_uri": "",
        "trust": None,
        "subject": "",
        "created_at": listed[target.client_id]["created_at"],
        "created_by": "factory",
        "updated_at": listed[target.client_id]["updated_at"],
    }
    assert target.secret not in api.get(URL).content.decode()


def test_list_is_paginated(api):
    ClientFactory.create_batch(4)
    api.login(READ)
    first = api.get(URL, {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["next"]
    last = api.get(URL, {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1 and last["next"] is None


def test_a_page_past_the_end_is_not_found(api):
    api.login(READ)
    assert_error(api.get(URL, {"page": 9}), 404, "not_found")


def test_list_filters_by_status_scope_and_name(api):
    disabled = ClientFactory(name="old-cron", is_active=False)
    holder = ClientFactory(name="Orders-Job", scopes=["orders.read"])
    api.login(READ)

    def ids(params):
        return {c["client_id"] for c in api.get(URL, params).json()["results"]}

    assert ids({"status": "disabled"}) == {disabled.client_id}
    assert disabled.client_id not in ids({"status": "active"})
    assert ids({"scope": "orders.read"}) == {holder.client_id}
    assert ids({"name": "orders"}) == {holder.client_id}
    assert ids({"name": "orders", "status": "disabled"}) == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "asleep"}, "status"), ({"page_size": "0"}, "page_size"), ({"colour": "x"}, "colour")],
)
def test_list_refuses_bad_filters_naming_the_field(api, params, field):
    api.login(READ)
    body = assert_error(api.get(URL, params), 400, "invalid_request")
    assert field in body["fields"]


def test_create_returns_the_client_and_its_secret_once(api, writer, oauth):
    api.login(READ, WRITE, RESOURCE_SERVERS, "orders.read")  # may grant the introspection privilege
    ResourceServerFactory(identifier="https://orders.example.com")
    response = api.post(
        URL,
        {
            "name": "billing-job",
            "description": "nightly",
            "scopes": ["orders.read"],
            "can_introspect": True,
            "resource": "https://orders.example.com",
            "token_ttl": 600,
        },
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    client = Client.objects.get(client_id=body["client_id"])
    assert (client.name, client.description, client.can_introspect, client.token_ttl) == (
        "billing-job",
        "nightly",
        True,
        600,
    )
    assert client.scope_names() == ["orders.read"]
    assert body["client_secret"].startswith("gth_cs_")
    client.secret = body["client_secret"]
    assert oauth.token(client).json()["scope"] == "orders.read"
    assert "client_secret" not in api.get(f"{URL}{client.client_id}/").json()


def test_create_applies_the_defaults(api, writer, settings):
    body = api.post(URL, {"name": "plain"}).json()
    assert (body["scopes"], body["can_introspect"], body["description"]) == ([], False, "")
    assert body["token_ttl"] == settings.GATEHOUSE_DEFAULT_TOKEN_TTL


def test_create_is_audited_with_the_calling_client_as_actor(api, writer):
    body = api.post(URL, {"name": "billing-job"}, REMOTE_ADDR="192.0.2.7").json()
    event = AuditEvent.objects.get(action="client.create")
    assert (event.actor_type, event.actor, str(event.address)) == ("api", writer.client_id, "192.0.2.7")
    assert event.client.client_id == body["client_id"]
    assert body["client_secret"] not in str(event.changes)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "x", "scopes": "orders.read"}, "scopes"),
        ({"name": "x", "scopes": [None]}, "scopes.0"),
        ({"name": "x", "token_ttl": 0}, "token_ttl"),
        ({"name": "x", "token_ttl": 86401}, "token_ttl"),
        ({"name": "x", "token_ttl": "soon"}, "token_ttl"),
        ({"name": "x", "can_introspect": "perhaps"}, "can_introspect"),
        ({"name": "x", "client_secret": "mine"}, "client_secret"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(api, writer, payload, field):
    body = assert_error(api.post(URL, payload), 400, "invalid_request")
    assert field in body["fields"], body
    assert Client.objects.count() == 1


def test_create_refuses_a_body_that_is_not_an_object(api, writer):
    body = assert_error(api.post(URL, ["name"]), 400, "invalid_request")
    assert "non_field_errors" in body["fields"]


def test_retrieve_shows_one_client(api):
    target = ClientFactory(name="billing")
    api.login(READ)
    body = api.get(f"{URL}{target.client_id}/").json()
    assert (body["client_id"], body["name"], body["status"]) == (target.client_id, "billing", "active")


def test_retrieve_of_an_unknown_client_is_not_found(api):
    api.login(READ)
    assert_error(api.get(f"{URL}gth_ci_unknown/"), 404, "not_found")


def test_patch_changes_only_the_fields_sent_and_is_audited(api, writer):
    writer = api.login(READ, WRITE, RESOURCE_SERVERS, "orders.read")
    target = ClientFactory(name="billing", scopes=["orders.read"], token_ttl=3600)
    ResourceServerFactory(identifier="https://orders.example.com")
    response = api.patch(
        f"{URL}{target.client_id}/",
        {"token_ttl": 60, "can_introspect": True, "resource": "https://orders.example.com", "scopes": []},
    )
    assert response.status_code == 200
    assert (response.json()["token_ttl"], response.json()["scopes"]) == (60, [])
    target.refresh_from_db()
    assert (target.name, target.token_ttl, target.can_introspect, target.scope_names()) == ("billing", 60, True, [])
    event = AuditEvent.objects.get(action="client.update")
    assert event.actor == writer.client_id and event.actor_type == "api"
    assert event.changes["token_ttl"] == [3600, 60]
    assert event.changes["scopes"] == [["orders.read"], []]
    assert event.changes["resource"] == [None, "https://orders.example.com"]


def test_put_replaces_the_settings(api, writer):
    api.login(READ, WRITE, RESOURCE_SERVERS, "orders.read")  # the target may introspect
    target = ClientFactory(
        name="billing", description="old", can_introspect=True, resource_server=ResourceServerFactory()
    )
    payload = {"name": "billing-2", "scopes": ["orders.read"], "can_introspect": False, "token_ttl": 120}
    assert api.put(f"{URL}{target.client_id}/", payload).status_code == 200
    target.refresh_from_db()
    assert (target.name, target.description, target.can_introspect, target.token_ttl) == ("billing-2", "", False, 120)
    assert target.scope_names() == ["orders.read"]


def test_put_needs_every_setting(api, writer):
    target = ClientFactory()
    body = assert_error(api.put(f"{URL}{target.client_id}/", {"name": "x"}), 400, "invalid_request")
    assert {"scopes", "can_introspect", "token_ttl"} <= set(body["fields"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"name": ""}, "name"), ({"token_ttl": -5}, "token_ttl"), ({"id": 4}, "id")],
)
def test_patch_refuses_bad_input_and_changes_nothing(api, writer, payload, field):
    target = ClientFactory(name="billing")
    body = assert_error(api.patch(f"{URL}{target.client_id}/", payload), 400, "invalid_request")
    assert field in body["fields"]
    target.refresh_from_db()
    assert target.name == "billing"
    assert not AuditEvent.objects.filter(action="client.update").exists()


def test_patch_of_an_unknown_client_is_not_found(api, writer):
    assert_error(api.patch(f"{URL}gth_ci_unknown/", {"name": "x"}), 404, "not_found")


def test_an_admin_may_create_with_any_scope(api):
    ScopeFactory(name="payments.write")
    api.login(ADMIN)
    assert api.post(URL, {"name": "x", "scopes": ["payments.write"]}).status_code == 201


def test_an_unknown_scope_is_a_bad_request_for_a_caller_who_may_grant_it(api):
    api.login(ADMIN)
    target = ClientFactory(name="billing")
    for response in (
        api.post(URL, {"name": "x", "scopes": ["nope"]}),
        api.patch(f"{URL}{target.client_id}/", {"scopes": ["nope"]}),
    ):
        body = assert_error(response, 400, "invalid_request")
        assert body["fields"] == {"scopes": ["unknown scope: nope"]}
    assert Client.objects.count() == 2 and target.scope_names() == []
