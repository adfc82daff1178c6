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
from tests.factories import AccessTokenFactory, ClientFactory


def _openapi() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(_openapi())


@pytest.fixture
def admin_token(transactional_db):
    caller = ClientFactory(scopes=[ADMIN, "orders.read"])
    ClientFactory(scopes=["orders.read"])  # something to list, and a scope in use to try to delete
    return AccessTokenFactory(client=caller, scope=f"{ADMIN} orders.read").plaintext


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, live_server, admin_token):
    case.call_and_validate(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {admin_token}"},
        # A valid request may still be refused for the state it meets (a taken scope name, a scope in use,
        # a reused Idempotency-Key): only requests that break the schema must always be refused.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
