"""The `client` command answers the questions staff ask: owner and contact, secrets' last use, aligned listings."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from clients.models import AuditEvent, Client
from tests.factories import ClientFactory, ScopeFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_records_owner_and_contact_and_show_json_returns_them():
    made = json.loads(
        run("client", "create", "billing", "--owner", "payments team", "--contact", "pay@example.com", "--json")[0]
    )
    assert (made["owner"], made["contact"]) == ("payments team", "pay@example.com")
    shown = json.loads(run("client", "show", made["client_id"], "--json")[0])
    assert (shown["owner"], shown["contact"]) == ("payments team", "pay@example.com")
    listed = json.loads(run("client", "list", "--json")[0])["clients"]
    assert [(c["owner"], c["contact"]) for c in listed] == [("payments team", "pay@example.com")]


def test_a_contact_that_is_neither_email_nor_url_is_refused():
    with pytest.raises(CommandError) as refused:
        run("client", "create", "billing", "--contact", "call bob")
    assert str(refused.value) == "--contact: Enter an email address or an http(s) URL."
    assert not Client.objects.exists()


def test_update_changes_only_the_given_fields_and_is_audited():
    client = ClientFactory(name="billing", description="old", owner="a")
    out, _ = run(
        "client", "update", client.client_id, "--owner", "payments", "--contact", "https://chat.example.com/pay"
    )
    assert out == f"updated {client.client_id}\n"
    client.refresh_from_db()
    assert (client.name, client.description, client.owner, client.contact) == (
        "billing",
        "old",
        "payments",
        "https://chat.example.com/pay",
    )
    event = AuditEvent.objects.get(action="client.update")
    assert event.changes == {"owner": ["a", "payments"], "contact": ["", "https://chat.example.com/pay"]}


def test_update_with_nothing_to_change_says_so():
    client = ClientFactory()
    with pytest.raises(CommandError) as refused:
        run("client", "update", client.client_id)
    assert str(refused.value) == "nothing to change: give --name, --owner, --contact or --description"


def test_a_duplicate_name_is_accepted_with_a_warning():
    first = ClientFactory(name="billing")
    out, err = run("client", "create", "Billing", "--json")
    assert err == f"warning: another client is already named Billing: {first.client_id}\n"
    assert Client.objects.filter(name__iexact="billing").count() == 2
    other = ClientFactory(name="orders")
    _, err = run("client", "update", other.client_id, "--name", "billing")
    assert err.startswith("warning: another client is already named billing: ")


def test_show_prints_scopes_as_words_and_last_use_per_secret(oauth):
    client = ClientFactory(name="billing", scopes=["orders.read", "orders.write"])
    assert oauth.token(client).status_code == 200
    out, _ = run("client", "show", client.client_id)
    assert "scopes:         orders.read orders.write\n" in out
    assert "[" not in out and "'" not in out
    secret_line = out.splitlines()[-1].split()
    assert secret_line[0] == client.secrets.get().hint
    assert secret_line[-1] == "1"  # tokens in the last 24 h
    assert secret_line[-2] != "never"
    data = json.loads(run("client", "show", client.client_id, "--json")[0])
    assert data["secrets"][0]["tokens_last_24h"] == 1 and data["secrets"][0]["last_used_at"]


def test_list_aligns_its_columns():
    ClientFactory(name="a", owner="payments", scopes=["read"])
    ClientFactory(name="a-much-longer-name", is_active=False)
    lines = run("client", "list")[0].splitlines()
    assert lines[0].split() == ["CLIENT_ID", "STATUS", "NAME", "OWNER", "SCOPES"]
    owner, scopes = lines[0].index("OWNER"), lines[0].index("SCOPES")
    assert [line[owner:].split()[0] for line in lines] == ["OWNER", "payments", "-"]
    assert [line[scopes:].split()[0] for line in lines] == ["SCOPES", "read", "-"]


def test_scope_list_counts_clients_in_words():
    ScopeFactory(name="solo")
    ScopeFactory(name="shared")
    ScopeFactory(name="unused")
    ClientFactory(scopes=["solo", "shared"])
    ClientFactory(scopes=["shared"])
    out, _ = run("scope", "list")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert " 1 client " in lines["solo"] + " "
    assert " 2 clients" in lines["shared"]
    assert " 0 clients" in lines["unused"]


def test_disable_says_how_many_tokens_it_revoked(oauth):
    client = ClientFactory()
    oauth.token(client)
    oauth.token(client)
    assert run("client", "disable", client.client_id)[0] == f"disabled {client.client_id}; 2 live tokens revoked\n"
    assert run("client", "disable", client.client_id)[0] == f"{client.client_id} was already disabled\n"
