"""One structured line per OAuth request on `gatehouse.access`, and a request id on every response."""

import json
import logging
import os
import subprocess
import sys

import pytest

from ops.logs import JsonFormatter, TextFormatter
from tests.factories import AccessTokenFactory

FIELDS = {"endpoint", "client_id", "outcome", "status", "latency_ms", "request_id", "address"}


@pytest.fixture
def access(caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.access")

    def lines():
        return [r for r in caplog.records if r.name == "gatehouse.access"]

    return lines


def test_an_issued_token_is_one_line_with_client_outcome_status_latency_request_id_and_address(oauth, service, access):
    response = oauth.token(service)
    [record] = access()
    fields = record.fields
    assert set(fields) == FIELDS
    assert fields["endpoint"] == "token"
    assert fields["client_id"] == service.client_id
    assert fields["outcome"] == "issued"
    assert fields["status"] == 200
    assert fields["latency_ms"] > 0
    assert fields["request_id"] == response["X-Request-ID"]
    assert fields["address"] == "127.0.0.1"


def test_a_failed_authentication_line_says_why(oauth, service, access):
    oauth.post("/oauth/revoke", {"token": "x"}, auth=(service.client_id, "gth_cs_" + "x" * 49))
    [record] = access()
    assert record.fields["outcome"] == "invalid_client"
    assert record.fields["status"] == 401
    assert record.fields["reason"] == "malformed_secret"


def test_introspection_lines_say_active_or_inactive(oauth, resource_server, access):
    token = AccessTokenFactory()
    oauth.introspect(resource_server, token.plaintext)
    oauth.introspect(resource_server, "gth_at_nope")
    assert [r.fields["outcome"] for r in access()] == ["active", "inactive"]
    assert {r.fields["client_id"] for r in access()} == {resource_server.client_id}


def test_other_paths_are_not_access_logged(db, client, access):
    client.get("/.well-known/oauth-authorization-server")
    assert access() == []


def test_a_plain_request_id_is_kept_and_returned(oauth, service, access):
    response = oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        auth=(service.client_id, service.secret),
        HTTP_X_REQUEST_ID="trace-7f3a:span.01",
    )
    assert response["X-Request-ID"] == "trace-7f3a:span.01"
    assert access()[0].fields["request_id"] == "trace-7f3a:span.01"


@pytest.mark.parametrize("presented", ["x" * 129, "has space", "new\nline", "<script>", "", "é"])
def test_an_unsafe_or_long_request_id_is_replaced_by_a_new_one(db, client, presented):
    response = client.get("/.well-known/oauth-authorization-server", HTTP_X_REQUEST_ID=presented)
    rid = response["X-Request-ID"]
    assert rid != presented
    assert len(rid) == 32
    assert int(rid, 16) >= 0


def test_other_lines_written_during_a_request_carry_its_id(oauth, service, caplog):
    caplog.set_level(logging.INFO)
    caplog.handler.setFormatter(JsonFormatter())
    oauth.post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        auth=(service.client_id, "gth_cs_" + "x" * 49),
        HTTP_X_REQUEST_ID="req-42",
    )
    warning = next(line for line in caplog.text.splitlines() if "client authentication failed" in line)
    assert json.loads(warning)["request_id"] == "req-42"


def test_json_format_is_one_object_per_line_with_the_fields_at_the_top(oauth, service, access):
    oauth.token(service)
    line = JsonFormatter().format(access()[0])
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["logger"] == "gatehouse.access"
    assert entry["level"] == "info"
    assert entry["time"].endswith("Z")
    assert set(entry) >= FIELDS


def test_text_format_is_one_readable_line(oauth, service, access):
    oauth.token(service)
    line = TextFormatter().format(access()[0])
    assert "gatehouse.access oauth request endpoint=token" in line
    assert f"client_id={service.client_id}" in line


@pytest.mark.slow  # a subprocess
@pytest.mark.parametrize(
    ("env", "expected"),
    [({"DJANGO_DEBUG": "1"}, "text"), ({"DJANGO_DEBUG": "0"}, "json"), ({"GATEHOUSE_LOG_FORMAT": "json"}, "json")],
)
def test_logs_are_json_unless_debugging(env, expected):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_"))}
    environ.update({"DJANGO_SECRET_KEY": "s" * 50, "GATEHOUSE_ISSUER": "https://auth.example.com", **env})
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from config import settings; print(settings.LOGGING['handlers']['console']['formatter'])",
        ],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == expected
