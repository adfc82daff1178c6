"""Property-based run of the management API against a live server: schemathesis finds no server error.

Every operation of the OpenAPI schema gets a few generated requests (valid and invalid) with an admin token;
each response must not be a 5xx, must match the schema's status codes, content type and body, and a request
that breaks the schema must be refused.
"""

import json

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings

from tests.api import ADMIN
from tests.factories import AccessTokenFactory, ClientFactory, ResourceServerFactory


def _openapi() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(_openapi())


@pytest.fixture
def world(transactional_db):
    """An admin caller's token, and a real client, secret, scope and resource server for the paths to point at."""
    caller = ClientFactory(scopes=[ADMIN, "orders.read"])
    target = ClientFactory(scopes=["orders.read"])
    orders = ResourceServerFactory(identifier="https://orders.example.com")
    return {
        "identifier": orders.identifier,
        "token": AccessTokenFactory(client=caller, scope=f"{ADMIN} orders.read").plaintext,
        "client_id": target.client_id,
        "secret_id": target.secret_row.pk,
        "token_id": AccessTokenFactory(client=target).pk,
        "name": "orders.read",
        "kid": "ec-1",
    }


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, live_server, world):
    # Random ids would only ever meet a 404 (tested elsewhere): point the paths at real objects instead, unless
    # the generated value is deliberately invalid (a negative case), which must stay as it is.
    for name, value in (case.path_parameters or {}).items():
        if type(value) is type(world[name]) and "/" not in str(value) and str(value):
            case.path_parameters[name] = world[name]
    # A case whose headers are deliberately invalid keeps them (a bad or missing token must be refused);
    # any other case carries the real admin token.
    header_info = case.meta.components.get("header") if case.meta else None
    headers_invalid = header_info is not None and header_info.mode == "negative"
    case.call_and_validate(
        base_url=live_server.url,
        headers=None if headers_invalid else {"Authorization": f"Bearer {world['token']}"},
        # A valid request may still be refused for the state it meets (a taken scope name, a scope in use,
        # a reused Idempotency-Key): only requests that break the schema must always be refused.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
