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
