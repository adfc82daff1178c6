"""The staff portal offers what the command line and the API do for secretless clients: register with keys or a
trust binding, see and retire keys, add keys; trusts registered by privileged staff, with a test button."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client as HttpClient

from clients.models import AuditEvent, Client, ClientKey, Trust
from tests import jose
from tests.conftest import in_sudo_mode
from tests.factories import AccessTokenFactory, KeyClientFactory, TrustFactory
from tests.issuer import LocalIssuer
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db
ADD = "/admin/clients/client/add/"


def register(http, **fields):
    page = http.get(ADD)
    once = page.context["once"]
    return http.post(ADD, {"once": once, "token_ttl": 3600, **fields})


def test_operator_registers_a_client_with_a_pasted_jwks(operator_http):
    response = register(
        operator_http, name="worker", authentication="jwks", jwks=json.dumps(jose.public_jwks(jose.ec_key("p-1")))
    )
    client = Client.objects.get(name="worker")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/clients/client/{client.pk}/change/")
    assert client.auth_method == "private_key_jwt"
    assert not client.secrets.exists()
    page = operator_http.get(response["Location"]).content.decode()
    assert 'data-kid="p-1"' in page
    assert "Rotate secret" not in page
    assert "gth_cs_" not in page


def test_a_private_key_pasted_in_the_portal_is_refused(operator_http):
    response = register(
        operator_http, name="w", authentication="jwks", jwks=json.dumps({"keys": [jose.ec_key().as_dict(private=True)]})
    )
    assert response.status_code == 200
    assert "private key material" in response.content.decode()
    assert not Client.objects.filter(name="w").exists()


def test_operator_binds_a_client_to_a_trust(operator_http):
    TrustFactory(name="kubernetes-prod")
    register(
        operator_http, name="w", authentication="trust", trust="kubernetes-prod", subject="system:serviceaccount:a:b"
    )
    client = Client.objects.get(name="w")
    assert (client.trust.name, client.subject) == ("kubernetes-prod", "system:serviceaccount:a:b")
    again = register(
        operator_http, name="w2", authentication="trust", trust="kubernetes-prod", subject="system:serviceaccount:a:b"
    )
    assert "already bound" in again.content.decode()


def test_retire_a_key_from_its_page(operator_http):
    client = KeyClientFactory()
    token = AccessTokenFactory(client=client, secret=None, key=client.key_row)
    url = f"/admin/clients/client/{client.pk}/keys/{client.key_row.pk}/retire/"
    confirm = operator_http.get(url).content.decode()
    assert "1 live token(s) issued with it" in confirm
    assert "only active key" in confirm
    operator_http.post(url)
    assert ClientKey.objects.get(pk=client.key_row.pk).retired_at is not None
    assert AccessToken.objects.get(pk=token.pk).revoked_at is not None
    assert AuditEvent.objects.get(action="key.retire").actor_type == "staff"


def test_add_keys_from_the_portal(operator_http):
    client = KeyClientFactory()
    url = f"/admin/clients/client/{client.pk}/keys/add/"
    operator_http.post(url, {"jwks": json.dumps(jose.public_jwks(jose.ec_key("p-2")))})
    assert set(client.keys.values_list("kid", flat=True)) == {"ec-1", "p-2"}


def test_an_auditor_cannot_retire_or_add_keys(auditor_http):
    client = KeyClientFactory()
    assert auditor_http.post(f"/admin/clients/client/{client.pk}/keys/{client.key_row.pk}/retire/").status_code == 403
    assert auditor_http.post(f"/admin/clients/client/{client.pk}/keys/add/", {"jwks": "{}"}).status_code == 403


def test_operators_cannot_register_trusts(operator_http):
    assert operator_http.get("/admin/clients/trust/add/").status_code == 403


@pytest.fixture
def superuser_http(db):
    user = User.objects.create_superuser("sam", "sam@example.com", password=None)
    http = HttpClient()
    http.force_login(user)
    return in_sudo_mode(http)


def test_privileged_staff_register_a_trust_and_test_it(superuser_http, settings):
    settings.GATEHOUSE_JWKS_ALLOW_LOOPBACK = True
    with LocalIssuer() as issuer:
        response = superuser_http.post(
            "/admin/clients/trust/add/",
            {
                "name": "ci",
                "issuer": issuer.url,
                "audience": "gatehouse",
                "source": "discover",
                "algorithms": ["ES256"],
            },
        )
        trust = Trust.objects.get(name="ci")
        assert response.status_code == 302
        tested = superuser_http.post(f"/admin/clients/trust/{trust.pk}/test/", follow=True).content.decode()
        assert "publishes 1 key(s): issuer-key-1" in tested
    failed = superuser_http.post(f"/admin/clients/trust/{trust.pk}/test/", follow=True).content.decode()
    assert "Fetching the keys of ci failed" in failed
    assert 'id="trust-test"' in superuser_http.get(f"/admin/clients/trust/{trust.pk}/change/").content.decode()


def test_privileged_staff_disable_a_trust_and_operators_cannot(superuser_http, operator_http):
    from tests.factories import FederatedClientFactory

    bound = FederatedClientFactory()
    token = AccessTokenFactory(client=bound, secret=None)
    url = f"/admin/clients/trust/{bound.trust.pk}/disable/"
    assert operator_http.post(url).status_code == 403
    page = superuser_http.post(url, follow=True).content.decode()
    assert "is disabled; 1 live token(s) revoked" in page
    assert AccessToken.objects.get(pk=token.pk).revoked_at is not None
    assert not Trust.objects.get(pk=bound.trust.pk).is_active
