"""A secret past its end is refused with 401 at every endpoint (a regression: SQLite once answered 500)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clients.services import Actor, client_rotate_secret
from tests.factories import AccessTokenFactory


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
def test_a_secret_past_its_grace_is_refused_with_401(oauth, service, path):
    token = AccessTokenFactory(client=service)
    client_rotate_secret(client=service, grace=timedelta(seconds=60), actor=Actor.cli())
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        response = oauth.post(
            path,
            {"grant_type": "client_credentials", "token": token.plaintext},
            auth=(service.client_id, service.secret),
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
