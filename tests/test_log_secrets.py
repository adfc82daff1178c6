"""No log line, in either format, carries a client secret or an access token, whatever the client sends."""

import base64
import logging

import pytest

from ops.logs import JsonFormatter, TextFormatter
from tests.factories import ClientFactory


@pytest.fixture
def every_log_line(caplog):
    caplog.set_level(logging.DEBUG)

    def lines():
        formatters = (JsonFormatter(), TextFormatter())
        return [f.format(record) for record in caplog.records for f in formatters]

    return lines


def basic_raw(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_oauth_flows_and_their_failures_log_no_secret_and_no_token(oauth, service, resource_server, every_log_line):
    other = ClientFactory()
    token = oauth.token(service).json()["access_token"]
    secrets = [service.secret, resource_server.secret, other.secret, token]
    sid, ssec = service.client_id, service.secret

    oauth.introspect(resource_server, token)
    oauth.introspect(service, token)  # not allowed to introspect
    oauth.introspect(resource_server, token[:-1] + "x")  # damaged token
    oauth.token(service, scope="not-granted")
    oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(sid, other.secret))  # wrong secret
    oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(ssec, sid))  # fields swapped
    oauth.post("/oauth/token", {"grant_type": "client_credentials"}, auth=(ssec, ssec))
    oauth.post("/oauth/token", {"grant_type": "client_credentials", "client_id": ssec, "client_secret": token})
    oauth.post("/oauth/token", {"grant_type": "password"}, auth=(sid, ssec))
    oauth.post("/oauth/introspect", {"token": token}, auth=(token, ssec))  # token as client id
    for header in (
        basic_raw(ssec),  # no colon
        basic_raw(f"{sid}:{ssec}")[:-3],  # truncated base64
        "Basic " + ssec,  # not base64 at all
        basic_raw(f"{sid}:{ssec}").replace("Basic", "Bearer"),
        "Bearer " + token,
        basic_raw(f"{sid}:{ssec}%ZZ"),  # bad percent-encoding
    ):
        oauth.post("/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=header)
        oauth.post("/oauth/revoke", {"token": token}, HTTP_AUTHORIZATION=header)
    oauth.post("/oauth/revoke", {"token": token}, auth=(sid, other.secret))
    oauth.revoke(service, token)
    oauth.introspect(resource_server, token)

    lines = every_log_line()
    assert len(lines) >= 2 * 25  # every request above left at least its access line, in both formats
    for line in lines:
        for secret in secrets:
            assert secret not in line
            assert secret[7:] not in line  # nor its body without the prefix
