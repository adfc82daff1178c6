"""Errors Django answers before our views run are JSON on machine paths and HTML in the portal."""

import json
import logging

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_bad_host_on_the_token_endpoint_is_json():
    response = Client().post(
        "/oauth/token",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        HTTP_HOST="evil.example",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/oauth/nothing", "/.well-known/openid-configuration", "/api/v2/clients/"])
def test_unknown_machine_path_is_json_404(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "error_description": "there is no endpoint at this path"}


def test_portal_keeps_html_error_pages():
    response = Client().get("/admin/no-such-page/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("debug", [False, True])
def test_api_path_without_its_slash_is_a_json_404_not_a_redirect(settings, debug):
    settings.DEBUG = debug
    response = Client().post("/api/v1/clients", "{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error_description"] == "no such API endpoint; API paths end with a slash"


@pytest.mark.parametrize("path", ["/oauth/token", "/admin/", "/.well-known/oauth-authorization-server"])
def test_a_rejected_host_is_one_warning_line_without_a_traceback(path, caplog):
    """Finding 6: every bad Host header logged a full traceback at error level."""
    from ops.logs import JsonFormatter, TextFormatter

    with caplog.at_level("INFO"):
        Client().get(path, HTTP_HOST="evil.example")
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelname == "WARNING"
    assert record.exc_info is None
    assert "evil.example" in record.getMessage()
    assert "\n" not in TextFormatter().format(record)
    assert "exception" not in json.loads(JsonFormatter().format(record))
