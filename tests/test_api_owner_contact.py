"""Clients' owner and contact over the API: set, changed, shown, and found with exact-match filters."""

from clients.models import AuditEvent
from tests.api import READ, WRITE, assert_error
from tests.factories import ClientFactory

URL = "/api/v1/clients/"


def test_create_and_patch_owner_and_contact(api):
    api.login(WRITE, READ)
    made = api.post(URL, {"name": "billing", "owner": "payments", "contact": "pay@example.com"})
    assert made.status_code == 201
    assert (made.json()["owner"], made.json()["contact"]) == ("payments", "pay@example.com")
    client_id = made.json()["client_id"]
    changed = api.patch(f"{URL}{client_id}/", {"contact": "https://wiki.example.com/payments"})
    assert changed.status_code == 200 and changed.json()["owner"] == "payments"
    assert api.get(f"{URL}{client_id}/").json()["contact"] == "https://wiki.example.com/payments"
    event = AuditEvent.objects.get(action="client.update")
    assert event.changes == {"contact": ["pay@example.com", "https://wiki.example.com/payments"]}


def test_a_contact_that_is_neither_email_nor_url_is_a_400(api):
    api.login(WRITE)
    body = assert_error(api.post(URL, {"name": "billing", "contact": "ring bob"}), 400, "invalid_request")
    assert "contact" in body["fields"]


def test_exact_filters_find_one_client_where_the_name_search_finds_several(api):
    api.login(READ)
    wanted = ClientFactory(name="billing-job", owner="payments", contact="pay@example.com")
    ClientFactory(name="billing-job-eu", owner="payments-eu")
    ClientFactory(name="Billing-Job", owner="finance")

    def ids(**params):
        response = api.get(URL, params)
        assert response.status_code == 200, response.content
        return {c["client_id"] for c in response.json()["results"]}

    assert len(ids(name="billing-job")) == 3
    assert len(ids(name_exact="billing-job")) == 2  # names are compared ignoring case, as duplicates are
    assert ids(name_exact="billing-job", owner="payments") == {wanted.client_id}
    assert ids(owner="payments") == {wanted.client_id}  # exact: not payments-eu
    assert ids(contact="pay@example.com") == {wanted.client_id}
    assert ids(owner="Payments") == set()
