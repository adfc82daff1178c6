"""POST /oauth/token: the client credentials grant (RFC 6749 sections 2.3, 4.4, 5.1, 5.2)."""

import base64
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clients import credentials
from clients.services import Actor, client_disable, client_rotate_secret, secret_retire
from tests.factories import ClientFactory, ClientSecretFactory, wrong_secret
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db


def test_issues_a_bearer_token_with_all_allowed_scopes_by_default(oauth, service):
    response = oauth.token(service)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read write"
    assert credentials.is_well_formed(body["access_token"], credentials.ACCESS_TOKEN_PREFIX)
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    assert response["Content-Type"] == "application/json"


def test_stores_only_the_digest_of_the_token(oauth, service):
    token = oauth.token(service).json()["access_token"]
    row = AccessToken.objects.get()
    assert row.digest == credentials.digest(token)
    assert token not in {row.digest, row.scope}
    assert row.client == service
    assert row.expires_at - row.issued_at == 3600


def test_token_has_at_least_256_bits_and_differs_each_time(oauth, service):
    tokens = {oauth.token(service).json()["access_token"] for _ in range(5)}
    assert len(tokens) == 5
    for token in tokens:
        body = token[len(credentials.ACCESS_TOKEN_PREFIX) : -6]
        assert len(body) == 43  # 62**43 > 2**256


def test_client_secret_post_works(oauth, service):
    response = oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "client_id": service.client_id, "client_secret": service.secret},
    )
    assert response.status_code == 200


def test_expires_in_follows_the_client_token_lifetime(oauth):
    client = ClientFactory(token_ttl=120)
    assert oauth.token(client).json()["expires_in"] == 120


def test_requested_scopes_are_granted_exactly(oauth, service):
    body = oauth.token(service, scope="write").json()
    assert body["scope"] == "write"
    assert AccessToken.objects.get().scope == "write"


def test_requested_scopes_keep_order_and_drop_duplicates(oauth, service):
    assert oauth.token(service, scope="write read write").json()["scope"] == "write read"


def test_scope_not_allowed_is_invalid_scope(oauth, service):
    ClientFactory(scopes=["admin"])
    response = oauth.token(service, scope="read admin")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("scope", ["", " read", "read  write", "read "])
def test_malformed_scope_is_invalid_scope(oauth, service, scope):
    response = oauth.token(service, scope=scope)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_scope_removed_from_client_is_refused_at_once(oauth, service):
    service.scopes.remove(service.scopes.get(name="write"))
    assert oauth.token(service, scope="write").json()["error"] == "invalid_scope"
    assert oauth.token(service).json()["scope"] == "read"


def test_client_without_scopes_gets_an_empty_scope(oauth):
    client = ClientFactory()
    assert oauth.token(client).json()["scope"] == ""


def test_missing_grant_type_is_invalid_request(oauth, service):
    response = oauth.post("/oauth/token", {}, auth=(service.client_id, service.secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("grant", ["password", "authorization_code", "refresh_token", "x"])
def test_other_grant_types_are_unsupported(oauth, service, grant):
    response = oauth.token(service, grant_type=grant)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_wrong_secret_is_invalid_client_with_basic_challenge(oauth, service):
    response = oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        auth=(service.client_id, wrong_secret()),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    # RFC 6749 5.2's Basic challenge, with the error as auth-params (RFC 7235 quoted-strings), as openid-client reads it
    assert response["WWW-Authenticate"] == (
        'Basic realm="gatehouse", charset="UTF-8", error="invalid_client", '
        'error_description="client authentication failed"'
    )
    assert response["Cache-Control"] == "no-store"


def test_failed_post_authentication_has_no_basic_challenge(oauth, service):
    response = oauth.post(
        "/oauth/token", {"grant_type": "client_credentials", "client_id": service.client_id, "client_secret": "nope"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" not in response


def test_missing_client_authentication_is_invalid_client(oauth):
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_client_id_without_secret_is_invalid_client(oauth, service):
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials", "client_id": service.client_id})
    assert response.status_code == 401


def test_both_authentication_methods_at_once_is_invalid_request(oauth, service):
    response = oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "client_id": service.client_id, "client_secret": service.secret},
        auth=(service.client_id, service.secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_unknown_client_id_is_refused_like_a_wrong_secret(oauth, service, django_assert_num_queries, monkeypatch):
    monkeypatch.setattr("tokens.throttle.PURGE_CHANCE", 0)
    unknown = oauth.post(
        "/oauth/token", {"grant_type": "client_credentials"}, auth=("gth_ci_doesnotexist0000000", service.secret)
    )
    with django_assert_num_queries(3):  # the INSERT ... SELECT, the reason, the throttle's counters
        wrong = oauth.post(
            "/oauth/token",
            {"grant_type": "client_credentials"},
            auth=(service.client_id, wrong_secret()),
        )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_disabled_client_cannot_authenticate(oauth, service):
    client_disable(client=service, actor=Actor.cli())
    assert oauth.token(service).status_code == 401


def test_retired_secret_cannot_authenticate(oauth, service):
    secret_retire(secret=service.secret_row, actor=Actor.cli())
    assert oauth.token(service).status_code == 401


def test_rotated_secret_works_during_grace_and_stops_after(oauth, service):
    new = client_rotate_secret(client=service, grace=timedelta(hours=1), actor=Actor.cli())
    assert oauth.token(service).status_code == 200
    assert (
        oauth.post(
            "/oauth/token", {"grant_type": "client_credentials"}, auth=(service.client_id, new.plaintext)
        ).status_code
        == 200
    )
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert oauth.token(service).status_code == 401
        assert (
            oauth.post(
                "/oauth/token", {"grant_type": "client_credentials"}, auth=(service.client_id, new.plaintext)
            ).status_code
            == 200
        )


def test_secret_of_another_client_does_not_authenticate(oauth, service):
    other = ClientFactory()
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(service.client_id, other.secret))
    assert response.status_code == 401


def test_several_valid_secrets_all_work(oauth, service):
    extra = ClientSecretFactory(client=service, valid_until=timezone.now() + timedelta(days=1))
    assert (
        oauth.post(
            "/oauth/token", {"grant_type": "client_credentials"}, auth=(service.client_id, extra.plaintext)
        ).status_code
        == 200
    )
    assert oauth.token(service).status_code == 200


def test_success_is_one_sql_statement(oauth, service, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert oauth.token(service).status_code == 200
    with django_assert_num_queries(1):
        assert oauth.token(service, scope="read write").status_code == 200


# Bad input: always a 4xx with an RFC 6749 error body, never a 5xx.


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_are_405(oauth, method):
    response = getattr(oauth.http, method)("/oauth/token")
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", ""])
def test_other_content_types_are_invalid_request(oauth, service, content_type):
    response = oauth.post(
        "/oauth/token",
        "grant_type=client_credentials",
        auth=(service.client_id, service.secret),
        content_type=content_type,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_form_content_type_with_charset_is_accepted(oauth, service):
    response = oauth.post(
        "/oauth/token",
        "grant_type=client_credentials",
        auth=(service.client_id, service.secret),
        content_type="application/x-www-form-urlencoded; charset=UTF-8",
    )
    assert response.status_code == 200


def test_parameter_sent_twice_is_invalid_request(oauth, service):
    response = oauth.post(
        "/oauth/token", "grant_type=client_credentials&scope=read&scope=write", auth=(service.client_id, service.secret)
    )
    assert response.status_code == 400
    assert "more than once" in response.json()["error_description"]


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=client_credentials%00",
        b"grant_type=client_credentials&x=\xff\xfe",
        b"grant_type=client_credentials&x=%ff%fe",
        b"grant_type=client_credentials&" + b"&".join(b"f%d=1" % i for i in range(50)),
    ],
)
def test_nul_bytes_bad_utf8_and_too_many_fields_are_invalid_request(oauth, service, body):
    response = oauth.post("/oauth/token", body, auth=(service.client_id, service.secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_huge_body_is_refused_with_413(oauth, service):
    response = oauth.post("/oauth/token", b"grant_type=client_credentials&pad=" + b"a" * 100_000)
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


def test_oversized_credentials_are_invalid_client(oauth, service):
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=("a" * 5000, "b" * 5000))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b"id:%ff%fe").decode(),
        "Basic " + base64.b64encode(b":").decode(),
    ],
)
def test_malformed_basic_header_is_invalid_client(oauth, header):
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic")


def test_basic_credentials_are_form_url_decoded(oauth, service):
    """RFC 6749 2.3.1: id and secret are form-urlencoded before base64; a literal '+' would break otherwise."""
    raw = f"{service.client_id}:{service.secret}".replace("_", "%5F").encode()
    header = "Basic " + base64.b64encode(raw).decode()
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=header)
    assert response.status_code == 200


def test_error_responses_never_echo_the_presented_secret(oauth, service):
    wrong = wrong_secret()  # well-formed, so it reaches the database and the refusal that follows
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(service.client_id, wrong))
    assert wrong not in response.content.decode()
    assert service.secret not in response.content.decode()
