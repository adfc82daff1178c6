"""OpenAPI 3 schema of the management API (drf-spectacular): the bearer scheme and what the schema covers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from POST /oauth/token (client credentials) carrying gatehouse:* scopes.",
        }


def management_api_only(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """Keep /api/v1/ in the schema: the OAuth endpoints are described by their RFCs and the metadata document."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
