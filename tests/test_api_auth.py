"""Who may call the management API: Gatehouse's own bearer tokens, and the scope each endpoint needs."""

import pytest
import time_machine
from django.utils import timezone

from clients import services
from tests.api import ADMIN, AUDIT, READ, WRITE, assert_error
from tests.factories import AccessTokenFactory, ClientFactory
from tokens.models import AccessToken

# (method, path, scope it needs); {id} is a real client id, {name} a real scope.
ENDPOINTS = [
    ("GET", "/api/v1/clients/", READ),
    ("POST", "/api/v1/clients/", WRITE),
    ("GET", "/api/v1/clients/{id}/", READ),
    ("PATCH", "/api/v1/clients/{id}/", WRITE),
    ("PUT", "/api/v1/clients/{id}/", WRITE),
    ("POST", "/api/v1/clients/{id}/disable/", WRITE),
    ("POST", "/api/v1/clients/{id}/enable/", WRITE),
    ("POST", "/api/v1/clients/{id}/rotate/", WRITE),
    ("GET", "/api/v1/clients/{id}/secrets/", READ),
    ("POST", "/api/v1/clients/{id}/secrets/1/retire/", WRITE),
    ("POST", "/api/v1/clients/{id}/revoke-tokens/", WRITE),
    ("GET", "/api/v1/scopes/", READ),
    ("POST", "/api/v1/scopes/", WRITE),
    ("GET", "/api/v1/scopes/{name}/", READ),
    ("PATCH", "/api/v1/scopes/{name}/", WRITE),
    ("PUT", "/api/v1/scopes/{name}/", WRITE),
    ("DELETE", "/api/v1/scopes/{name}/", WRITE),
    ("GET", "/api/v1/audit-events/", AUDIT),
]


@pytest.fixture
def target(db):
    return ClientFactory(scopes=["orders.read"])


def _path(template, target):
    return template.format(id=target.client_id, name="orders.read")


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_needs_a_bearer_token(api, target, method, path, scope):
    response = api.request(method, _path(path, target), {}, token=None)
    assert_error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"] == 'Bearer realm="gatehouse"'


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_refuses_a_token_without_its_scope(api, target, method, path, scope):
    others = [s for s in (READ, WRITE, AUDIT) if s != scope]
    api.login(*others)
    response = api.request(method, _path(path, target), {})
    body = assert_error(response, 403, "insufficient_scope")
    assert body["scope"] == scope
    assert response["WWW-Authenticate"].startswith('Bearer realm="gatehouse", error="insufficient_scope"')
    assert f'scope="{scope}"' in response["WWW-Authenticate"]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_the_admin_scope_passes_every_scope_check(api, target, method, path, scope):
    api.login(ADMIN)
    response = api.request(method, _path(path, target), {})
    assert response.status_code not in (401, 403), response.content


def test_a_token_with_the_right_scope_is_let_in(api, target):
    api.login(READ)
    assert api.get(f"/api/v1/clients/{target.client_id}/").status_code == 200


def _assert_invalid_token(response):
    assert_error(response, 401, "invalid_token")
    assert response["WWW-Authenticate"].startswith('Bearer realm="gatehouse", error="invalid_token"')


@pytest.mark.parametrize(
    "token", ["", "gth_at_nonsense", "gth_at_" + "A" * 49, "x" * 5000, "gth_cs_" + "A" * 49, "Bearer"]
)
def test_a_malformed_or_unknown_token_is_invalid_token(api, token):
    _assert_invalid_token(api.get("/api/v1/clients/", token=token or " "))


def test_an_unknown_well_formed_token_is_invalid_token(api):
    caller = ClientFactory(scopes=[READ])
    token = AccessTokenFactory(client=caller, scope=READ)
    token.delete()
    _assert_invalid_token(api.get("/api/v1/clients/", token=token.plaintext))


def test_an_expired_token_is_invalid_token(api):
    api.login(READ)
    with time_machine.travel(timezone.now() + timezone.timedelta(hours=2)):
        _assert_invalid_token(api.get("/api/v1/clients/"))


def test_a_revoked_token_is_invalid_token(api):
    caller = api.login(READ)
    AccessToken.objects.revoke(client_pk=caller.pk, token=api.token, now=timezone.now())
    _assert_invalid_token(api.get("/api/v1/clients/"))


def test_a_disabled_clients_token_is_invalid_token(api):
    caller = api.login(READ)
    caller.is_active = False  # set directly, not through client_disable, so the token itself stays unrevoked
    caller.save()
    _assert_invalid_token(api.get("/api/v1/clients/"))


def test_basic_credentials_are_not_accepted(api, service):
    response = api.get("/api/v1/clients/", token=None, HTTP_AUTHORIZATION="Basic Zm9vOmJhcg==")
    assert_error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"] == 'Bearer realm="gatehouse"'


def test_the_token_scopes_count_not_the_clients(api):
    """A token asked for with a narrower scope does not carry the client's other API rights."""
    caller = ClientFactory(scopes=[READ, WRITE])
    token = AccessTokenFactory(client=caller, scope=READ).plaintext
    response = api.post("/api/v1/scopes/", {"name": "x.y"}, token=token)
    assert_error(response, 403, "insufficient_scope")


def test_bearer_lookup_is_one_query(db, django_assert_num_queries):
    caller = ClientFactory(scopes=[READ, AUDIT])
    token = AccessTokenFactory(client=caller, scope=f"{AUDIT} {READ}")
    with django_assert_num_queries(1):
        bearer = AccessToken.objects.bearer(token.plaintext, now=timezone.now())
    assert bearer.client_id == caller.client_id
    assert bearer.scopes == {READ, AUDIT}


def test_bearer_lookup_of_a_malformed_token_makes_no_query(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert AccessToken.objects.bearer("not-a-token", now=timezone.now()) is None


def test_the_migrations_make_exactly_the_api_scopes_the_code_defines(db):
    """clients.models.API_SCOPES is the one definition in the code; the migrations keep frozen copies (a migration
    must keep doing what it did), and this is what holds the two together, descriptions included."""
    from clients.models import API_SCOPES, RESERVED_SCOPE_PREFIX, Scope

    made = dict(Scope.objects.filter(name__startswith=RESERVED_SCOPE_PREFIX).values_list("name", "description"))
    assert made == API_SCOPES
    assert services.ADMIN_SCOPE in API_SCOPES
