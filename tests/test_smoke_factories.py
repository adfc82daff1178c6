from clients.models import ClientSecret
from tests.factories import AccessTokenFactory, ClientFactory


def test_client_factory_gives_a_valid_secret(db):
    client = ClientFactory(scopes=["read"])
    assert client.secret.startswith("gth_cs_")
    assert ClientSecret.objects.get(client=client).is_valid()
    assert client.scope_names() == ["read"]


def test_token_factory_keeps_its_plaintext(db):
    token = AccessTokenFactory()
    assert token.plaintext.startswith("gth_at_")
