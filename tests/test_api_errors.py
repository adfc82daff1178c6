"""One error shape across the management API: {"error", "error_description"} and, for bad input, "fields"."""

from tests.api import ADMIN, READ, WRITE, assert_error
from tests.factories import ClientFactory


def test_an_unknown_api_path_answers_json_not_found(api):
    api.login(READ)
    assert_error(api.get("/api/v1/nothing-here/"), 404, "not_found")
    assert_error(api.get("/api/v1/clients/x/y/z/"), 404, "not_found")


def test_a_method_the_endpoint_lacks_is_method_not_allowed(api):
    api.login(ADMIN)
    response = api.delete("/api/v1/clients/")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]
    target = ClientFactory()
    assert_error(api.delete(f"/api/v1/clients/{target.client_id}/"), 405, "method_not_allowed")
    assert_error(api.get(f"/api/v1/clients/{target.client_id}/rotate/"), 405, "method_not_allowed")


def test_options_is_not_offered(api):
    api.login(READ)
    assert_error(api.request("OPTIONS", "/api/v1/clients/"), 405, "method_not_allowed")


def test_malformed_json_is_invalid_request(api):
    api.login(WRITE)
    body = assert_error(api.post("/api/v1/clients/", raw='{"name": '), 400, "invalid_request")
    assert "JSON" in body["error_description"]


def test_a_form_body_is_unsupported_media_type(api):
    api.login(WRITE)
    response = api.post("/api/v1/clients/", raw="name=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_asking_for_html_is_not_acceptable(api):
    api.login(READ)
    assert_error(api.get("/api/v1/clients/", HTTP_ACCEPT="text/html"), 406, "not_acceptable")


def test_validation_errors_name_each_field(api):
    api.login(WRITE)
    body = assert_error(api.post("/api/v1/clients/", {"name": "", "token_ttl": 0}), 400, "invalid_request")
    assert set(body["fields"]) == {"name", "token_ttl"}
    assert all(isinstance(m, str) for messages in body["fields"].values() for m in messages)
    assert "name" in body["error_description"] and "token_ttl" in body["error_description"]


def test_a_database_outage_is_a_503_in_the_same_shape(api, monkeypatch):
    from django.db import OperationalError

    from api import views

    api.login(READ)

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(views.ClientViewSet, "list", down)
    response = api.get("/api/v1/clients/")
    assert_error(response, 503, "temporarily_unavailable")
    assert response["Retry-After"] == "1"


def test_no_error_repeats_the_presented_token(api):
    api.login(READ)
    token = api.token
    for response in (api.post("/api/v1/clients/", {"name": "x"}), api.get("/api/v1/clients/", token=token + "x")):
        assert token not in response.content.decode()
        assert token not in response.get("WWW-Authenticate", "")


def test_a_control_character_in_a_path_is_not_found_not_a_database_error(api):
    api.login(ADMIN)
    for path in ("/api/v1/clients/%00/", "/api/v1/scopes/a%00b/", "/api/v1/clients/%01/secrets/"):
        assert_error(api.get(path), 404, "not_found")


def test_null_and_surrogate_characters_in_input_are_invalid_request(api):
    api.login(ADMIN)
    for raw in ('{"name": "x\\u0000"}', '{"name": "\\ud800"}'):
        body = assert_error(api.post("/api/v1/clients/", raw=raw), 400, "invalid_request")
        assert "name" in body["fields"]
    assert_error(api.get("/api/v1/clients/", {"name": "\x00"}), 400, "invalid_request")


def test_a_body_that_is_not_utf8_is_invalid_request(api):
    api.login(WRITE)
    assert_error(api.post("/api/v1/clients/", raw=b"\xff\xfe"), 400, "invalid_request")


def test_a_huge_body_is_request_too_large(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    api.login(WRITE)
    assert_error(api.post("/api/v1/clients/", {"name": "x", "description": "a" * 2000}), 413, "request_too_large")


def test_deeply_nested_json_is_invalid_request_not_a_crash(api):
    """Finding 6: 3,000 nested `[` made the JSON parser raise RecursionError, a 500."""
    api.login(WRITE)
    for raw in ("[" * 3000, '{"name": ' + "[" * 100_000, "[" * 3000 + "]" * 3000):
        body = assert_error(api.post("/api/v1/clients/", raw=raw), 400, "invalid_request")
        assert "JSON" in body["error_description"]
