"""A pipeline that authenticates with private_key_jwt uses the management API like any other, and retiring the key
that minted its token ends that authority (the caller check inside the writing transaction)."""

import pytest
from django.test import Client as HttpClient

from clients.services import Actor, client_key_retire
from tests import jose
from tests.api import WRITE
from tests.factories import KeyClientFactory

pytestmark = pytest.mark.django_db
ISSUER = "http://127.0.0.1:8000"


def test_key_minted_token_manages_clients_until_its_key_is_retired(oauth):
    pipeline = KeyClientFactory(scopes=[WRITE, "orders.read"])
    form = {"grant_type": "client_credentials", "scope": f"{WRITE} orders.read"}
    assertion = jose.sign(pipeline.private_key, jose.claims_for(pipeline.client_id, ISSUER))
    token = oauth.post("/oauth/token", {**form, **jose.assertion_form(assertion)}).json()["access_token"]
    http = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    made = http.post(
        "/api/v1/clients/", {"name": "billing", "scopes": ["orders.read"]}, content_type="application/json"
    )
    assert made.status_code == 201, made.content
    client_key_retire(client=pipeline, kid="ec-1", actor=Actor.cli())
    again = http.post("/api/v1/clients/", {"name": "billing-2"}, content_type="application/json")
    assert again.status_code == 401
