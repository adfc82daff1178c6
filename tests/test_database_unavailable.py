"""A database outage is a 503 temporarily_unavailable with Retry-After, never a 500."""

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError

from clients.models import Client
from tokens.models import AccessTokenManager

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("error", [OperationalError("connection refused"), InterfaceError("connection already closed")])
def test_token_endpoint_answers_503_when_the_database_is_down(oauth, service, error):
    with mock.patch.object(AccessTokenManager, "issue", side_effect=error):
        response = oauth.token(service)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response["Retry-After"] == "1"
    assert response["Cache-Control"] == "no-store"
    assert oauth.token(service).status_code == 200  # and it serves again once the database answers


def test_introspection_answers_503_when_the_database_is_down(oauth, resource_server):
    with mock.patch.object(AccessTokenManager, "introspect", side_effect=OperationalError("timeout")):
        response = oauth.introspect(resource_server, "gth_at_x")
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


def test_revocation_answers_503_when_the_database_is_down(oauth, service):
    with mock.patch.object(type(Client.objects), "authenticate", side_effect=OperationalError("gone")):
        response = oauth.revoke(service, "gth_at_x")
    assert response.status_code == 503


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_died_while_idle_is_replaced_without_an_error(oauth, service, resource_server):
    """After a database restart the kept-alive connection is dead; the request is served on a fresh one."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs a database server whose connection can die (SQLite's in-memory test database would vanish)")
    token = oauth.token(service).json()["access_token"]
    connection.ensure_connection()
    connection.connection.close()  # behind Django's back, as a server restart would
    assert oauth.token(service).status_code == 200
    connection.connection.close()
    assert oauth.introspect(resource_server, token).json()["active"] is True


@pytest.mark.django_db(transaction=True)
def test_a_failed_connect_is_not_retried(oauth, service):
    """When there was no connection to lose, the outage is reported at once rather than waited out twice."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database keeps its one connection open")
    connection.close()
    with mock.patch.object(AccessTokenManager, "issue", side_effect=OperationalError("connection refused")) as issue:
        assert oauth.token(service).status_code == 503
    assert issue.call_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_authentication_after_the_connection_died_is_a_401_not_a_503(oauth, service):
    """Finding 9: the retry did not cover the throttle, so its first database statement answered 503."""
    from django.db import connection

    from clients import credentials

    if connection.vendor != "postgresql":
        pytest.skip("needs a database server whose connection can die (SQLite's in-memory test database would vanish)")
    wrong = credentials.new_credential(credentials.CLIENT_SECRET_PREFIX)
    for _ in range(3):
        connection.ensure_connection()
        connection.connection.close()  # behind Django's back, as a server restart would
        response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(service.client_id, wrong))
        assert response.status_code == 401, response.content
