"""The grant rule: a caller grants, and manages clients holding, only scopes its token carries, unless admin."""

import pytest

from clients.models import Client
from tests.api import ADMIN, READ, WRITE, assert_error
from tests.factories import ClientFactory, ScopeFactory

URL = "/api/v1/clients/"


@pytest.fixture
def pipeline(api):
    ScopeFactory(name="payments.write")
    return api.login(WRITE, READ, "orders.read")


def test_a_caller_may_grant_scopes_it_holds(api, pipeline):
    response = api.post(URL, {"name": "x", "scopes": ["orders.read", READ]})
    assert response.status_code == 201


def test_a_caller_may_not_grant_a_scope_it_does_not_hold(api, pipeline):
    body = assert_error(api.post(URL, {"name": "x", "scopes": ["payments.write"]}), 403, "scope_not_held")
    assert body["scopes"] == ["payments.write"]
    assert not Client.objects.filter(name="x").exists()


def test_a_caller_may_not_grant_the_admin_scope_without_holding_it(api, pipeline):
    assert_error(api.post(URL, {"name": "x", "scopes": [ADMIN]}), 403, "scope_not_held")


def test_a_caller_may_not_add_a_scope_it_does_not_hold(api, pipeline):
    target = ClientFactory(scopes=["orders.read"])
    assert_error(api.patch(f"{URL}{target.client_id}/", {"scopes": ["payments.write"]}), 403, "scope_not_held")
    assert target.scope_names() == ["orders.read"]


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("PATCH", "", {"name": "mine now"}),
        ("POST", "rotate/", {}),
        ("POST", "disable/", None),
        ("POST", "enable/", None),
        ("POST", "revoke-tokens/", None),
        ("POST", "secrets/{secret}/retire/", None),
    ],
)
def test_a_caller_may_not_manage_a_client_holding_scopes_it_lacks(api, pipeline, method, action, body):
    target = ClientFactory(name="payments", scopes=["payments.write", "orders.read"])
    path = f"{URL}{target.client_id}/{action.format(secret=target.secret_row.pk)}"
    response = api.request(method, path, body)
    assert_error(response, 403, "scope_not_held")
    target.refresh_from_db()
    assert (target.name, target.is_active, target.secrets.count()) == ("payments", True, 1)


def test_a_caller_may_still_read_such_a_client(api, pipeline):
    target = ClientFactory(scopes=["payments.write"])
    assert api.get(f"{URL}{target.client_id}/").status_code == 200


def test_an_admin_may_grant_and_manage_anything(api):
    api.login(ADMIN)
    ScopeFactory(name="payments.write")
    created = api.post(URL, {"name": "x", "scopes": ["payments.write", ADMIN]})
    assert created.status_code == 201
    target = ClientFactory(scopes=["payments.write"])
    assert api.post(f"{URL}{target.client_id}/rotate/", {}).status_code == 200
