"""The management API's lists cost the same number of queries however many rows they show."""

from tests.api import AUDIT, READ
from tests.factories import AuditEventFactory, ClientFactory


def test_listing_clients_is_four_queries_whatever_the_count(api, django_assert_num_queries):
    ClientFactory.create_batch(5, scopes=["orders.read", "orders.write"])
    api.login(READ)
    # token, count, page, the page's scopes
    with django_assert_num_queries(4):
        assert len(api.get("/api/v1/clients/").json()["results"]) == 6


def test_listing_audit_events_is_three_queries_whatever_the_count(api, django_assert_num_queries):
    AuditEventFactory.create_batch(5, client=ClientFactory())
    api.login(AUDIT)
    # token, count, page with its clients
    with django_assert_num_queries(3):
        assert len(api.get("/api/v1/audit-events/").json()["results"]) == 5
