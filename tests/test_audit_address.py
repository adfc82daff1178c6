"""The audit trail names a caller by the same address as the throttle, the lockout and the access log: behind a
trusted proxy the forwarded client, never a forwarded header from anyone else."""

from ipaddress import ip_network

import pytest

from clients.models import AuditEvent
from tests.admin_pages import confirm_url
from tests.api import WRITE
from tests.factories import ClientFactory

PROXY = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}


@pytest.fixture
def behind_proxy(settings):
    settings.GATEHOUSE_TRUSTED_PROXIES = [ip_network("10.0.0.0/8")]


def test_a_portal_change_through_a_trusted_proxy_records_the_forwarded_client(operator_http, behind_proxy):
    client = ClientFactory()
    operator_http.post(confirm_url(client, "disable"), **PROXY)
    assert AuditEvent.objects.get(action="client.disable").address == "203.0.113.9"


def test_an_api_change_through_a_trusted_proxy_records_the_forwarded_client(api, behind_proxy):
    api.login(WRITE)
    target = ClientFactory()
    assert api.post(f"/api/v1/clients/{target.client_id}/disable/", **PROXY).status_code == 200
    assert AuditEvent.objects.get(action="client.disable").address == "203.0.113.9"


def test_a_forwarded_header_from_an_untrusted_address_is_not_recorded(api, behind_proxy):
    api.login(WRITE)
    target = ClientFactory()
    api.post(f"/api/v1/clients/{target.client_id}/disable/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert AuditEvent.objects.get(action="client.disable").address == "198.51.100.7"
