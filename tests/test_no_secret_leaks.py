"""No client secret and no access token ever reaches a log line, a response (other than the one that creates
it), command output (other than the creating command's) or the database in plaintext."""

import io
import json
import logging
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from clients import credentials, services
from clients.models import Client
from clients.services import Actor

ACTOR = Actor.cli()
CREDENTIAL = re.compile(r"gth_(cs|at)_[0-9A-Za-z]{49}")  # the README's scanner pattern


class Capture:
    """Everything an observer could see, with the creating outputs kept apart."""

    def __init__(self) -> None:
        self.seen: list[str] = []  # must hold no plaintext
        self.created: set[str] = set()  # each secret or token, from the one place allowed to show it

    def response(self, response, creates: str | None = None):
        text = response.content.decode(errors="replace") + repr(sorted(response.items()))
        if creates:
            value = response.json()[creates]
            self.created.add(value)
        else:
            self.seen.append(text)
        return response

    def command(self, *args, creates: str | None = None) -> dict | str:
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(*args, stdout=out, stderr=err)
        except Exception as error:  # noqa: BLE001 - a refused command's message is output too
            err.write(str(error))
        self.seen.append(err.getvalue())
        if creates:
            payload = json.loads(out.getvalue())
            self.created.add(payload[creates])
            return payload
        self.seen.append(out.getvalue())
        return out.getvalue()


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    return caplog


def test_secrets_and_tokens_never_leak_through_a_full_run_of_the_flows(oauth, everything_logged, settings):
    settings.GATEHOUSE_AUTH_FAILURE_LIMIT = 6
    capture = Capture()
    services.scope_create(name="read", actor=ACTOR)

    # Clients made through the command line and through the services.
    job = capture.command("client", "create", "billing-job", "--scope", "read", "--json", creates="client_secret")
    rs_new = services.client_create(name="orders-api", can_introspect=True, actor=ACTOR)
    capture.created.add(rs_new.plaintext)
    rs = (rs_new.client.client_id, rs_new.plaintext)
    creds = (job["client_id"], job["client_secret"])

    # Tokens by Basic and by the form; introspection; revocation.
    tokens = []
    for how in ("basic", "post"):
        if how == "basic":
            response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=creds)
        else:
            form = {"grant_type": "client_credentials", "client_id": creds[0], "client_secret": creds[1]}
            response = oauth.post("/oauth/token", form)
        assert response.status_code == 200
        tokens.append(capture.response(response, creates="access_token").json()["access_token"])
    for token in tokens:
        assert capture.response(oauth.post("/oauth/introspect", {"token": token}, auth=rs)).json()["active"]
    capture.response(oauth.post("/oauth/revoke", {"token": tokens[0]}, auth=creds))
    capture.response(oauth.post("/oauth/introspect", {"token": tokens[0]}, auth=rs))

    # Failures, including credentials sent in the wrong places.
    capture.response(oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(creds[0], creds[1] + "x")))
    capture.response(oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(creds[1], creds[0])))
    capture.response(oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(creds[0], tokens[1])))
    capture.response(oauth.post("/oauth/token", {"grant_type": "password", "password": creds[1]}, auth=creds))
    capture.response(oauth.post("/oauth/introspect", {"token": tokens[1]}, auth=creds))  # may not introspect
    capture.response(oauth.post("/oauth/introspect", {"token": tokens[1]}, auth=(rs[0], creds[1])))
    capture.response(oauth.post("/oauth/revoke", {"token": tokens[1], "client_secret": creds[1]}, auth=creds))
    capture.response(oauth.post("/oauth/token", f"client_secret={creds[1]}&client_secret={creds[1]}"))
    capture.response(oauth.post("/oauth/token", {"client_secret": creds[1]}, content_type="application/json"))
    guess = credentials.new_credential(credentials.CLIENT_SECRET_PREFIX)
    for _ in range(8):  # until the guesses are throttled (the valid secret never is)
        capture.response(oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(creds[0], guess)))
    capture.response(oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=creds), "access_token")

    # Rotation through the command line and the services, then the old secret after its grace.
    rotated = capture.command("client", "rotate", creds[0], "--grace", "0", "--json", creates="client_secret")
    client = Client.objects.get(client_id=creds[0])
    again = services.client_rotate_secret(client=client, grace=timedelta(seconds=60), actor=ACTOR)
    capture.created.add(again.plaintext)
    capture.response(oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=creds))  # retired
    response = oauth.post(
        "/oauth/token", {"grant_type": "client_credentials"}, auth=(creds[0], rotated["client_secret"])
    )
    tokens.append(capture.response(response, creates="access_token").json()["access_token"])
    capture.command("client", "show", creds[0], "--json")
    capture.command("client", "show", creds[0])
    capture.command("client", "list", "--json")
    capture.command("client", "rotate", creds[1])  # a secret where an id belongs
    capture.command("client", "disable", creds[0])
    capture.command("client", "enable", creds[0])
    capture.command("tokens", "purge")
    capture.response(oauth.http.get("/.well-known/oauth-authorization-server"))

    plaintexts = capture.created
    assert len(plaintexts) == 8  # 2 clients, 2 rotations, 4 tokens
    outputs = capture.seen + [everything_logged.text] + [r.getMessage() for r in everything_logged.records]
    leaks = [(value[:12], text[:200]) for value in plaintexts for text in outputs if value in text]
    assert leaks == []
    assert [text for text in outputs if CREDENTIAL.search(text)] == []  # nor any other full credential

    # The database holds digests only: scan every column of every table.
    stored = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            stored += [str(value) for row in cursor.fetchall() for value in row]
    assert len(stored) > 100  # the scan saw the rows
    assert [value[:12] for value in plaintexts if any(value in text for text in stored)] == []
    assert [text for text in stored if CREDENTIAL.search(text)] == []  # hints are "gth_cs_…abcd"
