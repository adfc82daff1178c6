"""POST /oauth/introspect (RFC 7662)."""

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from clients.services import Actor, client_disable
from tests.factories import AccessTokenFactory, ClientFactory, wrong_secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(oauth, service):
    return oauth.token(service, scope="read").json()["access_token"]


def test_active_token_reports_its_claims(oauth, service, resource_server, token):
    response = oauth.introspect(resource_server, token)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "active": True,
        "client_id": service.client_id,
        "scope": "read",
        "token_type": "Bearer",
        "exp": body["iat"] + 3600,
        "iat": body["iat"],
        "iss": "http://127.0.0.1:8000",
        "sub": service.client_id,
    }
    assert abs(body["iat"] - timezone.now().timestamp()) < 5
    assert response["Cache-Control"] == "no-store"


@override_settings(GATEHOUSE_ISSUER="https://auth.example.com")
def test_issuer_comes_from_settings_when_configured(oauth, resource_server, token):
    assert oauth.introspect(resource_server, token).json()["iss"] == "https://auth.example.com"


def test_token_type_hint_never_hides_a_token(oauth, resource_server, token):
    for hint in ("access_token", "refresh_token", "something_else"):
        assert oauth.introspect(resource_server, token, token_type_hint=hint).json()["active"] is True


def test_expired_token_is_inactive(oauth, resource_server, token):
    with time_machine.travel(timezone.now() + timedelta(seconds=3601)):
        assert oauth.introspect(resource_server, token).json() == {"active": False}


def test_revoked_token_is_inactive(oauth, service, resource_server, token):
    oauth.revoke(service, token)
    assert oauth.introspect(resource_server, token).json() == {"active": False}


def test_token_of_disabled_client_is_inactive(oauth, service, resource_server, token):
    client_disable(client=service, actor=Actor.cli())
    assert oauth.introspect(resource_server, token).json() == {"active": False}


def test_token_of_client_disabled_behind_our_back_is_inactive(oauth, service, resource_server, token):
    """Even without the revocation that client_disable does, a disabled owner makes its tokens inactive."""
    type(service).objects.filter(pk=service.pk).update(is_active=False)
    assert oauth.introspect(resource_server, token).json() == {"active": False}


@pytest.mark.parametrize("value", ["gth_at_unknown", "x", "a" * 600, "gth_at_" + "A" * 49, "\u00e9\u00e8"])
def test_unknown_or_malformed_token_is_exactly_inactive(oauth, resource_server, value):
    response = oauth.introspect(resource_server, value)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_missing_token_is_invalid_request(oauth, resource_server):
    response = oauth.post("/oauth/introspect", {}, auth=(resource_server.client_id, resource_server.secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_caller_must_authenticate(oauth, token):
    response = oauth.post("/oauth/introspect", {"token": token})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_caller_with_wrong_secret_is_invalid_client(oauth, resource_server, token):
    response = oauth.post("/oauth/introspect", {"token": token}, auth=(resource_server.client_id, wrong_secret()))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


def test_caller_may_use_client_secret_post(oauth, resource_server, token):
    response = oauth.post(
        "/oauth/introspect",
        {"token": token, "client_id": resource_server.client_id, "client_secret": resource_server.secret},
    )
    assert response.json()["active"] is True


def test_client_without_introspection_right_gets_403_and_learns_nothing(oauth, service, token):
    response = oauth.introspect(service, token)
    assert response.status_code == 403
    assert response.json()["error"] == "unauthorized_client"
    assert "active" not in response.json()
    unknown = oauth.introspect(service, "gth_at_unknown")
    assert unknown.status_code == 403
    assert unknown.json() == response.json()


def test_disabled_resource_server_cannot_introspect(oauth, resource_server, token):
    client_disable(client=resource_server, actor=Actor.cli())
    assert oauth.introspect(resource_server, token).status_code == 401


def test_get_is_405_so_tokens_stay_out_of_urls(oauth, resource_server, token):
    response = oauth.http.get(f"/oauth/introspect?token={token}")
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"


def test_parameter_twice_is_invalid_request(oauth, resource_server, token):
    response = oauth.post(
        "/oauth/introspect", f"token={token}&token=x", auth=(resource_server.client_id, resource_server.secret)
    )
    assert response.status_code == 400


def test_introspection_is_one_sql_statement(oauth, resource_server, django_assert_num_queries):
    token = AccessTokenFactory(client=ClientFactory(scopes=["read"]), scope="read")
    with django_assert_num_queries(1):
        assert oauth.introspect(resource_server, token.plaintext).json()["active"] is True
    with django_assert_num_queries(1):
        assert oauth.introspect(resource_server, "gth_at_unknown").json() == {"active": False}
