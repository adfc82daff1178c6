"""Property-based: whatever `resource` and `scope` an authenticated client sends, the token endpoint answers a token
within its grant or an RFC-shaped 400, never a 5xx; and a bound introspector never sees a token not meant for it."""

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import ClientFactory, ResourceServerFactory, ScopeFactory

ORDERS = "https://orders.example.com"
BILLING = "https://billing.example.com"
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

resources = st.lists(
    st.one_of(
        st.sampled_from([ORDERS, BILLING, "https://unknown.example.com", ORDERS + "#x", ORDERS + "/", "", " ", "*"]),
        st.text(max_size=40),
        st.text(max_size=1).map(lambda c: "https://" + c * 300),
    ),
    max_size=5,
)
scopes = st.one_of(
    st.none(),
    st.lists(st.sampled_from(["orders.read", "billing.read", "profile", "nope", "*"]), min_size=1, max_size=4).map(
        " ".join
    ),
    st.text(max_size=20),
)


@pytest.fixture
def world(db, settings):
    settings.GATEHOUSE_AUTH_FAILURE_LIMIT = 10**9
    orders = ResourceServerFactory(identifier=ORDERS)
    billing = ResourceServerFactory(identifier=BILLING)
    ScopeFactory(name="orders.read", resource_server=orders)
    ScopeFactory(name="billing.read", resource_server=billing)
    ScopeFactory(name="profile")
    return {
        "shop": ClientFactory(scopes=["orders.read", "billing.read", "profile"]),
        "orders_rs": ClientFactory(can_introspect=True, resource_server=orders),
    }


@FUZZ
@given(resource=resources, scope=scopes)
def test_any_resource_and_scope_get_a_token_within_the_grant_or_a_clear_400(oauth, world, resource, scope):
    pairs = [("grant_type", "client_credentials"), *(("resource", r) for r in resource)]
    if scope is not None:
        pairs.append(("scope", scope))
    shop = world["shop"]
    response = oauth.post("/oauth/token", urlencode(pairs), auth=(shop.client_id, shop.secret))
    assert response.status_code in (200, 400), response.content[:300]
    body = response.json()
    if response.status_code == 400:
        assert body["error"] in {"invalid_request", "invalid_scope", "invalid_target"}
        return
    granted = set(body["scope"].split())
    named = set(resource)
    assert named <= {ORDERS, BILLING}
    allowed = {"profile"} | ({"orders.read"} if ORDERS in named or not named else set())
    allowed |= {"billing.read"} if BILLING in named or not named else set()
    assert granted <= allowed
    claims = oauth.introspect(world["orders_rs"], body["access_token"]).json()
    if claims["active"]:
        assert claims["aud"] == ORDERS and set(claims["scope"].split()) <= {"orders.read", "profile"}
        assert ORDERS in named or (not named and "orders.read" in granted)
