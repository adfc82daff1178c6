"""Security headers on every response; `Cache-Control: no-store` on every OAuth response, errors included."""

import pytest
from django.db import OperationalError

from clients import credentials
from tests.factories import AccessTokenFactory
from tokens.models import AccessToken

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assert_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        assert response.get(name) == value, (name, response.status_code)


def assert_oauth_response(response, status, error=None):
    assert response.status_code == status
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    assert response["Content-Type"] == "application/json"
    if error:
        body = response.json()
        assert body["error"] == error
        assert set(body) <= {"error", "error_description"}
    assert_security_headers(response)


def test_successful_oauth_responses_are_not_stored(oauth, service, resource_server):
    token = oauth.token(service)
    assert_oauth_response(token, 200)
    assert_oauth_response(oauth.introspect(resource_server, token.json()["access_token"]), 200)
    assert_oauth_response(oauth.introspect(resource_server, "gth_at_unknown"), 200)
    assert_oauth_response(oauth.revoke(service, token.json()["access_token"]), 200)


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
def test_every_error_path_answers_json_that_is_not_stored(oauth, service, path, settings):
    settings.GATEHOUSE_AUTH_FAILURE_LIMIT = 1000
    auth = (service.client_id, service.secret)
    assert_oauth_response(oauth.http.get(path), 405, "invalid_request")
    assert_oauth_response(oauth.post(path, b"{}", content_type="application/json"), 400, "invalid_request")
    assert_oauth_response(oauth.post(path, b"a=" + b"x" * 20000), 413, "invalid_request")
    assert_oauth_response(oauth.post(path, b"token=\xff&grant_type=x"), 400, "invalid_request")
    assert_oauth_response(oauth.post(path, "token=a&token=b", auth=auth), 400, "invalid_request")
    assert_oauth_response(oauth.post(path, {"token": "t", "grant_type": "client_credentials"}), 401, "invalid_client")
    assert_oauth_response(
        oauth.post(path, {"token": "t", "grant_type": "client_credentials"}, HTTP_AUTHORIZATION="Basic %%%"),
        401,
        "invalid_client",
    )
    assert_oauth_response(
        oauth.post(path, {"token": "t", "grant_type": "client_credentials"}, auth=(service.client_id, "gth_cs_x")),
        401,
        "invalid_client",
    )


def test_token_specific_errors_are_not_stored(oauth, service):
    assert_oauth_response(oauth.token(service, grant_type="password"), 400, "unsupported_grant_type")
    assert_oauth_response(oauth.token(service, scope="admin"), 400, "invalid_scope")
    assert_oauth_response(oauth.post("/oauth/token", {}, auth=(service.client_id, service.secret)), 400)


def test_introspection_by_a_client_that_may_not_is_not_stored(oauth, service):
    token = AccessTokenFactory(client=service)
    assert_oauth_response(oauth.introspect(service, token.plaintext), 403, "unauthorized_client")


def test_throttled_responses_are_not_stored(oauth, service, settings):
    settings.GATEHOUSE_AUTH_FAILURE_LIMIT = 1
    guess = (service.client_id, credentials.new_credential(credentials.CLIENT_SECRET_PREFIX))
    oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=guess)
    assert_oauth_response(
        oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=guess), 429, "slow_down"
    )


def test_database_errors_answer_503_not_stored(oauth, service, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(AccessToken.objects, "issue", down)
    response = oauth.token(service)
    assert_oauth_response(response, 503, "temporarily_unavailable")
    assert response["Retry-After"] == "1"


def test_other_pages_carry_the_security_headers(client, db):
    assert_security_headers(client.get("/.well-known/oauth-authorization-server"))
    assert_security_headers(client.get("/admin/login/"))
    assert_security_headers(client.get("/no-such-page"))
    assert_security_headers(client.get("/oauth/openapi.json"))
    assert_security_headers(client.get("/healthz"))
    assert_security_headers(client.get("/readyz"))
    assert_security_headers(client.get("/metrics"))


def test_probes_carry_the_same_security_headers_as_every_other_page_from_the_same_settings(db, settings):
    """The probes are answered before SecurityMiddleware runs; their headers come from its settings, not a copy."""
    from django.test import Client as HttpClient

    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    settings.SECURE_REFERRER_POLICY = ["no-referrer", "strict-origin"]
    http = HttpClient()
    page, probe = http.get("/.well-known/oauth-authorization-server"), http.get("/healthz")
    for name in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy"):
        assert probe[name] == page[name], name
    assert probe["X-Frame-Options"] == "SAMEORIGIN"
    assert probe["Referrer-Policy"] == "no-referrer,strict-origin"


def test_https_responses_carry_hsts_in_production(oauth, service, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
