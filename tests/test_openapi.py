"""The OAuth endpoints' OpenAPI description, and a schemathesis run against a live server."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import live

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


def test_the_description_covers_every_oauth_endpoint_and_error(client, db):
    schema = client.get("/oauth/openapi.json").json()
    assert set(schema["paths"]) == {
        "/oauth/token",
        "/oauth/introspect",
        "/oauth/revoke",
        "/.well-known/oauth-authorization-server",
    }
    token = schema["paths"]["/oauth/token"]["post"]
    assert list(token["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
    assert {"200", "400", "401", "405", "413", "429", "503"} <= set(token["responses"])
    error = token["responses"]["401"]["content"]["application/json"]["schema"]
    assert error["required"] == ["error", "error_description"]
    assert schema["components"]["securitySchemes"]["clientSecretBasic"]["scheme"] == "basic"


def test_the_description_has_nothing_but_the_oauth_endpoints(client, db):
    paths = client.get("/oauth/openapi.json").json()["paths"]
    assert not any(path.startswith(("/admin", "/api")) for path in paths)


@pytest.fixture(scope="module")
def schema_server(live_database_url):
    made = live.create_clients(
        live_database_url, {"schema-rs": {"can_introspect": True, "scopes": ["read"]}}, ("read",)
    )
    server = live.start(live_database_url, workers=2, GATEHOUSE_AUTH_FAILURE_LIMIT="1000000")
    try:
        yield server, made["schema-rs"]
    finally:
        server.stop()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(schema_server):
    server, rs = schema_server
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    result = subprocess.run(
        [
            schemathesis,
            "run",
            server.url + "/oauth/openapi.json",
            "--checks",
            CHECKS,
            "--auth",
            f"{rs['client_id']}:{rs['client_secret']}",
            "--max-examples",
            "40",
            "--request-timeout",
            "5",
            "--workers",
            "1",
            "--seed",
            "1",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout.split("SUMMARY")[-1]
    assert "Traceback" not in server.log()
