"""Property-based tests: whatever arrives at the OAuth endpoints, the answer is never a 5xx, never a token or
an active introspection for invalid credentials, and every error is RFC 6749-shaped JSON."""

import base64
from urllib.parse import quote_plus, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import basic
from tests.factories import AccessTokenFactory, ClientFactory

ENDPOINTS = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"]
RFC_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",  # RFC 8707
    "unsupported_token_type",
    "slow_down",
    "temporarily_unavailable",
}
FIELDS = ["grant_type", "client_id", "client_secret", "token", "token_type_hint", "scope", "x", ""]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

text = st.text(st.characters(codec="utf-8"), max_size=80)
values = st.one_of(
    text,
    st.sampled_from(["client_credentials", "read", "read write", "gth_cs_", "gth_at_", "%00", "\x00", " "]),
    st.text(alphabet="gth_csaAz09", min_size=50, max_size=60),
    st.text(max_size=1).map(lambda c: c * 5000),  # large values
)
forms = st.dictionaries(st.sampled_from(FIELDS) | text, values, max_size=8)
content_types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded; charset=latin-1",
        "application/json",
        "multipart/form-data; boundary=x",
        "text/plain",
        "",
    ]
)
raw_bodies = st.one_of(
    forms.map(lambda form: urlencode(form).encode()),
    st.binary(max_size=512),
    st.binary(max_size=32).map(lambda b: b * 700),  # up to ~22 KB, over the 16 KB limit
    st.lists(st.tuples(text, text), max_size=30).map(  # repeated and many fields
        lambda pairs: "&".join(f"{quote_plus(a)}={quote_plus(b)}" for a, b in pairs).encode()
    ),
)
authorizations = st.one_of(
    st.none(),
    text,
    st.binary(max_size=80).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.tuples(text, text).map(lambda pair: basic(*pair)),
    st.sampled_from(["Basic", "Basic ", "Basic ===", "Bearer x", "basic Og=="]),
)


@pytest.fixture
def world(db, django_settings):
    """Two clients, one allowed to introspect, and a live token; throttling out of the way."""
    django_settings.GATEHOUSE_AUTH_FAILURE_LIMIT = 10**9
    rs = ClientFactory(can_introspect=True, scopes=["read"])
    other = ClientFactory(scopes=["read", "write"])
    return {"rs": rs, "other": other, "token": AccessTokenFactory(client=other).plaintext}


@pytest.fixture
def django_settings(settings):
    return settings


def post(oauth, path, body, content_type, authorization, headers=None):
    extra = dict(headers or {})
    if authorization is not None:
        extra["HTTP_AUTHORIZATION"] = authorization
    return oauth.http.generic("POST", path, body, content_type=content_type, **extra)


def assert_well_formed(response):
    assert response.status_code < 500, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    if response.status_code != 200:
        assert set(body) == {"error", "error_description"}
        assert body["error"] in RFC_ERRORS
        assert isinstance(body["error_description"], str)
    return body


@FUZZ
@given(
    path=st.sampled_from(ENDPOINTS),
    body=raw_bodies,
    content_type=content_types,
    authorization=authorizations,
    headers=st.dictionaries(
        st.sampled_from(
            ["HTTP_X_FORWARDED_FOR", "HTTP_ACCEPT", "HTTP_CONTENT_ENCODING", "HTTP_HOST_X", "CONTENT_LENGTH"]
        ),
        st.text(st.characters(codec="latin-1"), max_size=40),
        max_size=3,
    ),
)
def test_arbitrary_requests_never_fail_with_5xx(oauth, world, path, body, content_type, authorization, headers):
    headers.pop("CONTENT_LENGTH", None)  # the test client sets it from the body
    response = post(oauth, path, body, content_type, authorization, headers)
    body = assert_well_formed(response)
    if response.status_code == 200 and path == "/oauth/token":
        pytest.fail("a token for credentials that were never issued")
    if path == "/oauth/introspect":
        assert body.get("active") is not True


wrong_credentials = st.one_of(
    st.tuples(st.just("rs"), text),  # a real client id, a wrong secret
    st.tuples(st.just("rs"), st.just("other")),  # a real client id, another client's secret
    st.tuples(text, st.just("rs")),  # a real secret under another id
    st.tuples(text, text),
)


@FUZZ
@given(
    path=st.sampled_from(ENDPOINTS),
    pair=wrong_credentials,
    in_header=st.booleans(),
    form=forms,
    with_token=st.booleans(),
)
def test_invalid_credentials_never_get_a_token_or_an_answer(oauth, world, path, pair, in_header, form, with_token):
    clients = {"rs": world["rs"], "other": world["other"]}
    client_id = clients[pair[0]].client_id if pair[0] in clients else pair[0]
    secret = clients[pair[1]].secret if pair[1] in clients else pair[1]
    form = {k: v for k, v in form.items() if k not in ("client_id", "client_secret")}
    if with_token:
        form["token"] = world["token"]
    form.setdefault("grant_type", "client_credentials")
    authorization = None
    if in_header:
        authorization = basic(client_id, secret)
    else:
        form.update(client_id=client_id, client_secret=secret)
    response = post(oauth, path, urlencode(form).encode(), "application/x-www-form-urlencoded", authorization)
    body = assert_well_formed(response)
    assert response.status_code != 200, body
    assert "access_token" not in body and "active" not in body


@FUZZ
@given(form=forms, in_header=st.booleans())
def test_valid_credentials_with_arbitrary_fields_never_fail_with_5xx(oauth, world, form, in_header):
    client = world["other"]
    form = {k: v for k, v in form.items() if k not in ("client_id", "client_secret")}
    authorization = basic(client.client_id, client.secret) if in_header else None
    if not in_header:
        form.update(client_id=client.client_id, client_secret=client.secret)
    for path in ENDPOINTS:
        response = post(oauth, path, urlencode(form).encode(), "application/x-www-form-urlencoded", authorization)
        body = assert_well_formed(response)
        if response.status_code == 200 and path == "/oauth/token":
            assert set(body["scope"].split()) <= {"read", "write"}
