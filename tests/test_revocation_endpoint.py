"""POST /oauth/revoke (RFC 7009)."""

import pytest

from tests.factories import ClientFactory, wrong_secret
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(oauth, service):
    return oauth.token(service).json()["access_token"]


def test_client_revokes_its_own_token_at_once(oauth, service, resource_server, token):
    response = oauth.revoke(service, token)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert AccessToken.objects.get().revoked_at is not None
    assert oauth.introspect(resource_server, token).json() == {"active": False}


def test_revoking_twice_is_fine(oauth, service, token):
    assert oauth.revoke(service, token).status_code == 200
    assert oauth.revoke(service, token).status_code == 200


def test_another_clients_token_is_left_alone_with_200(oauth, resource_server, token):
    other = ClientFactory()
    assert oauth.revoke(other, token).status_code == 200
    assert AccessToken.objects.get().revoked_at is None
    assert oauth.introspect(resource_server, token).json()["active"] is True


@pytest.mark.parametrize("value", ["gth_at_unknown", "x" * 1000, "\u00e9"])
def test_unknown_token_is_200_and_changes_nothing(oauth, service, token, value):
    assert oauth.revoke(service, value).status_code == 200
    assert AccessToken.objects.get().revoked_at is None


def test_token_type_hint_is_accepted(oauth, service, token):
    assert oauth.revoke(service, token, token_type_hint="refresh_token").status_code == 200
    assert AccessToken.objects.get().revoked_at is not None


def test_authentication_is_required(oauth, token):
    response = oauth.post("/oauth/revoke", {"token": token})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert AccessToken.objects.get().revoked_at is None


def test_wrong_secret_is_invalid_client(oauth, service, token):
    response = oauth.post("/oauth/revoke", {"token": token}, auth=(service.client_id, wrong_secret()))
    assert response.status_code == 401
    assert AccessToken.objects.get().revoked_at is None


def test_token_is_required(oauth, service):
    response = oauth.post("/oauth/revoke", {}, auth=(service.client_id, service.secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_get_is_405(oauth):
    assert oauth.http.get("/oauth/revoke").status_code == 405
