"""The OpenAPI 3 schema of the management API: valid, served, and browsable without any outside asset."""

import re

import pytest
from django.core.management import call_command


def test_the_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert text.startswith("openapi: 3.")
    assert "/api/v1/clients/{client_id}/rotate/:" in text
    assert "\n  /oauth/token:" not in text  # the OAuth endpoints are described by their RFCs, not here


def test_the_schema_is_served_as_json(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert {"/api/v1/clients/", "/api/v1/scopes/", "/api/v1/audit-events/"} <= set(schema["paths"])


@pytest.mark.django_db
def test_the_docs_page_loads_its_assets_from_this_server(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    assert "/api/schema/" in html
    assert not re.search(r"""(src|href)=["']https?://""", html), "the docs page must not load assets from a CDN"
    assert "/static/drf_spectacular_sidecar/" in html
