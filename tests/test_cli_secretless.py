"""The command line for secretless clients: `client create --jwks/--jwks-uri/--trust`, `client keys`,
`client key add|retire`, `client switch`, `trust create|list|test`, with the names the issue fixes."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from clients import jwks
from clients.models import AuditEvent, Client, ClientKey, ClientSecret
from tests import jose
from tests.factories import AccessTokenFactory, ClientFactory, KeyClientFactory, TrustFactory
from tests.issuer import LocalIssuer
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db
ISSUER = "http://127.0.0.1:8000"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


class JwksFile:
    def __init__(self, path, key):
        self.path, self.private_key = path, key

    def __str__(self) -> str:
        return str(self.path)


@pytest.fixture
def jwks_file(tmp_path):
    key = jose.ec_key("laptop-2026")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jose.public_jwks(key)))
    return JwksFile(path, key)


def test_client_create_with_jwks_issues_no_secret(jwks_file, oauth):
    data = json.loads(run("client", "create", "invoice-worker", "--jwks", str(jwks_file), "--json"))
    assert data["client_secret"] is None
    assert data["auth_method"] == "private_key_jwt"
    assert data["keys"] == ["laptop-2026"]
    client = Client.objects.get(client_id=data["client_id"])
    assert not ClientSecret.objects.filter(client=client).exists()
    assertion = jose.sign(jwks_file.private_key, jose.claims_for(client.client_id, ISSUER))
    form = {"grant_type": "client_credentials", **jose.assertion_form(assertion)}
    assert oauth.post("/oauth/token", form).status_code == 200
    event = AuditEvent.objects.get(action="client.create")
    assert event.changes["auth_method"] == [None, "private_key_jwt"]
    assert event.changes["keys_added"] == [None, ["laptop-2026"]]


def test_client_create_with_jwks_uri(oauth):
    data = json.loads(run("client", "create", "w", "--jwks-uri", "https://keys.example.com/jwks.json", "--json"))
    assert data["client_secret"] is None
    assert data["jwks_uri"] == "https://keys.example.com/jwks.json"


def test_client_create_refuses_an_insecure_jwks_uri():
    with pytest.raises(CommandError, match="only https"):
        run("client", "create", "w", "--jwks-uri", "http://keys.example.com/jwks.json")


@pytest.mark.parametrize(
    "content,why",
    [
        ("{", "not valid JSON"),
        (json.dumps({"keys": [jose.ec_key("p").as_dict(private=True)]}), "private key material"),
    ],
)
def test_bad_jwks_file_is_one_line_error(tmp_path, content, why):
    path = tmp_path / "jwks.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=why):
        run("client", "create", "w", "--jwks", str(path))
    assert not Client.objects.exists()


def test_missing_jwks_file_is_one_line_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run("client", "create", "w", "--jwks", str(tmp_path / "nope.json"))


def test_two_credentials_at_once_are_refused(jwks_file):
    TrustFactory(name="kubernetes-prod")
    with pytest.raises(CommandError, match="one of"):
        run("client", "create", "w", "--jwks", str(jwks_file), "--trust", "kubernetes-prod", "--subject", "s")


def test_keys_listing_and_key_add_and_retire(tmp_path):
    client = KeyClientFactory()
    new = jose.ec_key("ec-2")
    path = tmp_path / "new.json"
    path.write_text(json.dumps(jose.public_jwks(new)))
    added = json.loads(run("client", "key", "add", client.client_id, "--jwks", str(path), "--json"))
    assert [k["kid"] for k in added["keys"]] == ["ec-2"]
    token = AccessTokenFactory(client=client, secret=None, key=client.key_row)
    out = run("client", "key", "retire", client.client_id, "ec-1")
    assert "retired key ec-1" in out
    listing = json.loads(run("client", "keys", client.client_id, "--json"))
    states = {k["kid"]: k["state"] for k in listing["keys"]}
    assert states == {"ec-1": "retired", "ec-2": "active"}
    assert not AccessToken.objects.live(timezone.now()).filter(pk=token.pk).exists()
    event = AuditEvent.objects.get(action="key.retire")
    assert event.changes == {"kid": ["ec-1", None], "tokens_revoked": [None, 1]}
    with pytest.raises(CommandError, match="no active key"):
        run("client", "key", "retire", client.client_id, "ec-1")


def test_adding_a_kid_already_active_is_refused(tmp_path):
    client = KeyClientFactory()
    path = tmp_path / "same.json"
    path.write_text(json.dumps(jose.public_jwks(jose.ec_key("ec-1"))))
    with pytest.raises(CommandError, match="already has an active key"):
        run("client", "key", "add", client.client_id, "--jwks", str(path))


def test_keys_cannot_be_added_to_a_secret_client(jwks_file):
    client = ClientFactory()
    with pytest.raises(CommandError, match="private_key_jwt client"):
        run("client", "key", "add", client.client_id, "--jwks", str(jwks_file))


def test_rotating_a_key_client_is_refused():
    client = KeyClientFactory()
    with pytest.raises(CommandError, match="not a secret"):
        run("client", "rotate", client.client_id)
    assert not ClientSecret.objects.filter(client=client).exists()


def test_switching_to_keys_ends_secrets_and_live_tokens_audited(jwks_file, oauth):
    client = ClientFactory()
    token = AccessTokenFactory(client=client)
    data = json.loads(run("client", "switch", client.client_id, "--jwks", str(jwks_file), "--json"))
    assert data == {"client_id": client.client_id, "auth_method": "private_key_jwt", "client_secret": None}
    assert oauth.token(client).status_code == 401  # the old secret is retired
    assert not AccessToken.objects.live(timezone.now()).filter(pk=token.pk).exists()
    event = AuditEvent.objects.get(action="client.switch_auth")
    assert event.changes["auth_method"] == ["client_secret", "private_key_jwt"]
    assert event.changes["tokens_revoked"] == [None, 1]


def test_switching_back_to_a_secret_retires_keys_and_prints_the_secret_once():
    client = KeyClientFactory()
    data = json.loads(run("client", "switch", client.client_id, "--secret", "--json"))
    assert data["client_secret"].startswith("gth_cs_")
    assert ClientKey.objects.get(client=client).retired_at is not None


def test_client_create_bound_to_a_trust():
    TrustFactory(name="kubernetes-prod")
    data = json.loads(
        run(
            "client",
            "create",
            "invoice-worker",
            "--trust",
            "kubernetes-prod",
            "--subject",
            "system:serviceaccount:billing:invoice-worker",
            "--json",
        )
    )
    assert data["client_secret"] is None
    assert (data["trust"], data["subject"]) == ("kubernetes-prod", "system:serviceaccount:billing:invoice-worker")
    with pytest.raises(CommandError, match="already bound"):
        run("client", "create", "x", "--trust", "kubernetes-prod", "--subject", data["subject"])
    with pytest.raises(CommandError, match="unknown trust"):
        run("client", "create", "x", "--trust", "nope", "--subject", "s")


def test_trust_create_list_and_test(jwks_file, settings):
    created = json.loads(
        run(
            "trust",
            "create",
            "kubernetes-prod",
            "--issuer",
            "https://kubernetes.default.svc.cluster.local",
            "--jwks",
            str(jwks_file),
            "--audience",
            "https://gatehouse.example.com",
            "--json",
        )
    )
    assert created["keys"] == "jwks"
    assert created["algorithms"] == ["ES256", "RS256"]
    listing = json.loads(run("trust", "list", "--json"))
    assert [t["name"] for t in listing["trusts"]] == ["kubernetes-prod"]
    assert json.loads(run("trust", "test", "kubernetes-prod", "--json")) == {
        "name": "kubernetes-prod",
        "kids": ["laptop-2026"],
    }
    assert AuditEvent.objects.get(action="trust.create").target == "trust kubernetes-prod"


def test_trust_test_fetches_discovery_and_shows_kids(settings):
    settings.GATEHOUSE_JWKS_ALLOW_LOOPBACK = True
    with LocalIssuer() as issuer:
        run("trust", "create", "github-actions", "--issuer", issuer.url, "--discover", "--audience", "a")
        assert "issuer-key-1" in run("trust", "test", "github-actions")
    with pytest.raises(CommandError, match="trust github-actions: cannot fetch"):
        run("trust", "test", "github-actions")
    jwks.key_cache.clear()


def test_trust_create_refusals(jwks_file):
    with pytest.raises(CommandError, match="only https"):
        run("trust", "create", "t", "--issuer", "https://i", "--jwks-uri", "http://i/jwks", "--audience", "a")
    with pytest.raises(CommandError):
        run("trust", "create", "t", "--issuer", "https://i", "--audience", "a")  # no key source
    with pytest.raises(CommandError, match="invalid choice"):
        run("trust", "create", "t", "--issuer", "https://i", "--discover", "--audience", "a", "--algorithm", "HS256")


def test_disabling_a_trust_ends_its_clients_tokens_and_enabling_revives_none(oauth):
    from tests.factories import FederatedClientFactory

    bound = FederatedClientFactory()
    other = FederatedClientFactory()  # another trust's client keeps its tokens
    token = AccessTokenFactory(client=bound, secret=None)
    kept = AccessTokenFactory(client=other, secret=None)
    out = run("trust", "disable", bound.trust.name)
    assert "1 live token(s)" in out
    now = timezone.now()
    assert not AccessToken.objects.live(now).filter(pk=token.pk).exists()
    assert AccessToken.objects.live(now).filter(pk=kept.pk).exists()
    event = AuditEvent.objects.get(action="trust.disable")
    assert event.changes == {"is_active": [True, False], "tokens_revoked": [None, 1]}
    run("trust", "enable", bound.trust.name)
    assert not AccessToken.objects.live(timezone.now()).filter(pk=token.pk).exists()
    with pytest.raises(CommandError, match="unknown trust"):
        run("trust", "disable", "nope")
