"""The command line: `scope`, `client` and `tokens` commands, as automation calls them."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from clients.models import AuditEvent, Client, ClientSecret
from tests.factories import AccessTokenFactory, ClientFactory, ScopeFactory
from tokens.models import AccessToken

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_scope_create_and_list_json():
    run("scope", "create", "orders.read", "--description", "Read orders")
    data = json.loads(run("scope", "list", "--json"))
    ours = [s for s in data["scopes"] if not s["name"].startswith("gatehouse:")]  # the API's, from a migration
    assert ours == [{"name": "orders.read", "description": "Read orders", "resource": None, "clients": 0}]
    assert AuditEvent.objects.get().actor_type == "cli"


def test_duplicate_scope_is_a_clear_error():
    ScopeFactory(name="orders.read")
    with pytest.raises(CommandError, match="already exists"):
        run("scope", "create", "orders.read")


def test_client_create_json_has_exactly_the_documented_keys(oauth):
    ScopeFactory(name="orders.read")
    data = json.loads(
        run("client", "create", "billing", "--scope", "orders.read", "--introspect", "--token-ttl", "600", "--json")
    )
    assert set(data) == {
        "client_id",
        "client_secret",
        "name",
        "owner",
        "contact",
        "scopes",
        "can_introspect",
        "resource",
        "token_ttl",
    }
    assert data["scopes"] == ["orders.read"] and data["can_introspect"] is True and data["token_ttl"] == 600
    client = Client.objects.get(client_id=data["client_id"])
    client.secret = data["client_secret"]
    assert oauth.token(client).status_code == 200


def test_client_create_with_unknown_scope_fails():
    with pytest.raises(CommandError, match="unknown scope: nope"):
        run("client", "create", "billing", "--scope", "nope")
    assert not Client.objects.exists()


def test_rotate_json_and_grace(oauth):
    client = ClientFactory()
    data = json.loads(run("client", "rotate", client.client_id, "--grace", "3600", "--json"))
    assert set(data) == {"client_id", "client_secret", "previous_secret_expires_at", "tokens_revoked"}
    assert data["tokens_revoked"] == 0
    assert data["previous_secret_expires_at"] is not None
    assert oauth.token(client).status_code == 200  # old secret, in grace
    client.secret = data["client_secret"]
    assert oauth.token(client).status_code == 200


def test_rotate_grace_zero_ends_old_secret_now(oauth):
    client = ClientFactory()
    run("client", "rotate", client.client_id, "--grace", "0")
    assert oauth.token(client).status_code == 401


def test_unknown_client_is_a_clear_error():
    with pytest.raises(CommandError, match="unknown client: gth_ci_nope"):
        run("client", "rotate", "gth_ci_nope")


@pytest.mark.parametrize("name", ["gatehouse:payments", "GATEHOUSE:ADMIN", "Orders.Read"])
def test_reserved_and_look_alike_scope_names_are_refused(name):
    ScopeFactory(name="orders.read")
    with pytest.raises(CommandError, match="gatehouse: .in any case|ignoring case"):
        run("scope", "create", name)
    assert not AuditEvent.objects.exists()


def test_rotate_keeps_issued_tokens_unless_asked_to_revoke_them(oauth, resource_server):
    client = ClientFactory()
    token = oauth.token(client).json()["access_token"]
    run("client", "rotate", client.client_id, "--grace", "0")
    assert oauth.introspect(resource_server, token).json()["active"] is True
    data = json.loads(run("client", "rotate", client.client_id, "--revoke-tokens", "--json"))
    assert data["tokens_revoked"] == 1
    assert oauth.introspect(resource_server, token).json() == {"active": False}
    assert "live tokens revoked: 0" in run("client", "rotate", client.client_id, "--revoke-tokens")


def test_the_command_line_may_grant_anything(oauth):
    """Whoever runs manage.py holds the database credentials: the CLI is not limited by the grant rule."""
    data = json.loads(run("client", "create", "platform-admin", "--scope", "gatehouse:admin", "--introspect", "--json"))
    assert (data["scopes"], data["can_introspect"]) == (["gatehouse:admin"], True)


def test_disable_and_enable(oauth, resource_server):
    client = ClientFactory()
    token = oauth.token(client).json()["access_token"]
    run("client", "disable", client.client_id)
    assert oauth.introspect(resource_server, token).json() == {"active": False}
    assert oauth.token(client).status_code == 401
    run("client", "enable", client.client_id)
    assert oauth.token(client).status_code == 200


def test_list_and_show_never_print_a_secret():
    client = ClientFactory(name="billing", scopes=["read"])
    listing = json.loads(run("client", "list", "--json"))
    shown = json.loads(run("client", "show", client.client_id, "--json"))
    assert listing["clients"][0]["client_id"] == client.client_id
    assert shown["secrets"][0]["state"] == "active"
    assert shown["scopes"] == ["read"]
    text = run("client", "list") + run("client", "show", client.client_id)
    for output in (json.dumps(listing), json.dumps(shown), text):
        assert client.secret not in output
        assert ClientSecret.objects.get().digest not in output


def test_tokens_purge_deletes_expired_and_revoked_only():
    now = int(timezone.now().timestamp())
    live = AccessTokenFactory()
    # Expired long ago: deleted row by row everywhere (on PostgreSQL it is in the default partition; tokens in a day
    # partition go when their day is over: tests/test_partitions.py).
    AccessTokenFactory(issued_at=1000, expires_at=2000)
    AccessTokenFactory(revoked_at=now)
    assert "purged 2 tokens" in run("tokens", "purge", "--batch-size", "1")
    assert list(AccessToken.objects.all()) == [live]


@pytest.mark.slow  # a subprocess
def test_errors_are_one_line_with_nonzero_exit(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    done = subprocess.run(
        [sys.executable, "manage.py", "client", "rotate", "gth_ci_nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert done.stderr.strip() == "CommandError: unknown client: gth_ci_nope"
    too_long = subprocess.run(
        [sys.executable, "manage.py", "client", "rotate", "gth_ci_nope", "--grace", "999999999999"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert too_long.returncode != 0
    assert "Traceback" not in too_long.stderr
    assert too_long.stderr == "CommandError: --grace: the grace period can be at most 30 days\n"
    ttl = subprocess.run(
        [sys.executable, "manage.py", "client", "create", "job", "--token-ttl", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert (ttl.returncode, ttl.stdout, ttl.stderr) == (
        2,
        "",
        "CommandError: --token-ttl must be between 1 and 86400\n",
    )
    made = subprocess.run(
        [sys.executable, "manage.py", "client", "create", "job", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0
    assert set(json.loads(made.stdout)) >= {"client_id", "client_secret"}
