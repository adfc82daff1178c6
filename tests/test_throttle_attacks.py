"""The throttle as an attacker meets it: nobody without a valid credential makes a client that holds one fail.

Each test is an attack from issue 11 (findings 1 and 2): made-up credentials from a shared address, a disabled
client's pods retrying, a guesser who knows the victim's client id, a guesser spread over addresses or rotating
through an IPv6 /64. The valid client keeps working every time; the noise and the guesses are slowed down, and
a client guessed at from many addresses shows up in the log, the audit trail and the metrics.
"""

import pytest
from prometheus_client import REGISTRY

from clients.models import AuditEvent
from tests.factories import AccessTokenFactory, ClientFactory, wrong_secret

LIMIT = 5  # failures per (address group, client id) before that pair's failures answer 429
ALERT = 12  # failures per client id, from any address, before it is flagged as under attack
NOISE = 40  # credential-less or malformed requests per address group before they answer 429
WINDOW = 300
WRONG = "gth_cs_" + "A" * 43  # shaped like a secret but with a bad checksum: rejected without a lookup


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.GATEHOUSE_AUTH_FAILURE_LIMIT = LIMIT
    settings.GATEHOUSE_AUTH_ALERT_THRESHOLD = ALERT
    settings.GATEHOUSE_AUTH_NOISE_LIMIT = NOISE
    settings.GATEHOUSE_AUTH_FAILURE_WINDOW = WINDOW


def token(oauth, client_id, secret, address):
    return oauth.post(
        "/oauth/token", {"grant_type": "client_credentials"}, auth=(client_id, secret), REMOTE_ADDR=address
    )


def valid_calls_succeed(oauth, service, resource_server, address):
    """The victim's token and introspection requests from `address`, with their valid secrets."""
    issued = token(oauth, service.client_id, service.secret, address)
    assert issued.status_code == 200, issued.content
    live = AccessTokenFactory(client=service)
    introspected = oauth.post(
        "/oauth/introspect",
        {"token": live.plaintext},
        auth=(resource_server.client_id, resource_server.secret),
        REMOTE_ADDR=address,
    )
    assert introspected.status_code == 200, introspected.content
    assert introspected.json()["active"] is True


def test_made_up_credentials_from_a_shared_address_never_refuse_a_valid_client(oauth, service, resource_server):
    """Finding 1: `curl -u nobody:x` 120 times from a NAT's address used to lock every client behind it out."""
    for _ in range(120):
        assert token(oauth, "nobody", "x", "198.51.100.10").status_code in (401, 429)
        oauth.post("/oauth/introspect", {"token": "t"}, auth=("nobody", WRONG), REMOTE_ADDR="198.51.100.10")
        oauth.post("/oauth/token", {"grant_type": "client_credentials"}, REMOTE_ADDR="198.51.100.10")
    valid_calls_succeed(oauth, service, resource_server, "198.51.100.10")


def test_the_noise_past_its_ceiling_is_slowed_down(oauth, db):
    statuses = [token(oauth, "nobody", "x", "198.51.100.11").status_code for _ in range(NOISE + 3)]
    assert statuses == [401] * NOISE + [429] * 3


def test_a_disabled_clients_retrying_pods_do_not_lock_out_their_neighbours(oauth, service, resource_server):
    """Finding 1: a disabled client whose pods keep retrying; its neighbours behind the same address carry on."""
    disabled = ClientFactory(is_active=False)
    statuses = [token(oauth, disabled.client_id, disabled.secret, "198.51.100.12").status_code for _ in range(120)]
    assert statuses[:LIMIT] == [401] * LIMIT
    assert set(statuses[LIMIT:]) == {429}  # back-pressure for the retrying pods
    valid_calls_succeed(oauth, service, resource_server, "198.51.100.12")


def test_a_guesser_who_knows_the_client_id_cannot_lock_the_client_out(oauth, service, resource_server):
    """The attacker behind the victim's own NAT, guessing the victim's secret, slows only itself down."""
    statuses = [token(oauth, service.client_id, wrong_secret(), "198.51.100.13").status_code for _ in range(120)]
    assert statuses[:LIMIT] == [401] * LIMIT
    assert set(statuses[LIMIT:]) == {429}
    blocked = token(oauth, service.client_id, wrong_secret(), "198.51.100.13")
    assert blocked.json()["error"] == "slow_down"
    assert 0 < int(blocked["Retry-After"]) <= WINDOW
    valid_calls_succeed(oauth, service, resource_server, "198.51.100.13")


def test_a_guess_at_a_resource_servers_secret_does_not_stop_its_introspection(oauth, service, resource_server):
    for _ in range(3 * LIMIT):
        oauth.post(
            "/oauth/introspect",
            {"token": "t"},
            auth=(resource_server.client_id, wrong_secret()),
            REMOTE_ADDR="10.9.9.9",
        )
    valid_calls_succeed(oauth, service, resource_server, "10.9.9.9")


def test_a_distributed_guesser_is_flagged_once_and_its_victim_keeps_working(oauth, service, resource_server, caplog):
    """Finding 2: 3 addresses x 30 wrong secrets against one client id used to go unnoticed."""
    addresses = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    before = REGISTRY.get_sample_value("gatehouse_clients_under_attack_total", {"client_id": service.client_id}) or 0
    for _ in range(30):
        for address in addresses:
            token(oauth, service.client_id, wrong_secret(), address)

    (event,) = AuditEvent.objects.filter(action="client.auth_failures")
    assert (event.actor_type, event.client, event.target) == ("system", service, service.client_id)
    assert event.changes["failures"] == ALERT
    assert event.changes["address_groups"] == 3
    alerts = [r.getMessage() for r in caplog.records if "under attack" in r.getMessage()]
    assert len(alerts) == 1
    assert service.client_id in alerts[0]
    after = REGISTRY.get_sample_value("gatehouse_clients_under_attack_total", {"client_id": service.client_id})
    assert after == before + 1
    for address in addresses:
        valid_calls_succeed(oauth, service, resource_server, address)


def test_an_ipv6_guesser_rotating_through_its_64_is_one_address(oauth, service, resource_server):
    """Finding 2: addresses were exact strings, so every address of a /64 had its own counter."""
    statuses = [
        token(oauth, service.client_id, wrong_secret(), f"2001:db8:0:7::{n:x}").status_code for n in range(1, 3 * LIMIT)
    ]
    assert statuses[:LIMIT] == [401] * LIMIT
    assert set(statuses[LIMIT:]) == {429}
    # another /64 is another group; and the victim inside the attacker's /64 still gets its tokens
    assert token(oauth, service.client_id, wrong_secret(), "2001:db8:0:8::1").status_code == 401
    valid_calls_succeed(oauth, service, resource_server, "2001:db8:0:7::ffff")


def test_an_ipv4_mapped_ipv6_address_counts_as_the_ipv4_address(oauth, service):
    for n in range(LIMIT):
        address = "::ffff:192.0.2.7" if n % 2 else "192.0.2.7"
        assert token(oauth, service.client_id, wrong_secret(), address).status_code == 401
    assert token(oauth, service.client_id, wrong_secret(), "::ffff:192.0.2.7").status_code == 429
