"""clients/jwks.py: a pasted JWKS holds public signing keys of the accepted kinds only, and fetching one cannot be
turned against Gatehouse's network (HTTPS, public addresses, no redirects, byte and time limits, a cache)."""

import json

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey

from clients import jwks
from tests import jose
from tests.issuer import LocalIssuer


def test_public_keys_of_each_accepted_kind_pass():
    keys = jwks.parse_jwks(json.dumps(jose.public_jwks(jose.ec_key("a"), jose.rsa_key("b"), jose.okp_key("c"))))
    assert [(k.kid, k.kty) for k in keys] == [("a", "EC"), ("b", "RSA"), ("c", "OKP")]
    assert all("d" not in k.jwk for k in keys)


def test_a_key_without_kid_is_named_by_its_thumbprint():
    key = ECKey.generate_key("P-256")
    (parsed,) = jwks.parse_jwks({"keys": [key.as_dict(private=False)]})
    assert parsed.kid == key.thumbprint() == parsed.thumbprint


@pytest.mark.parametrize(
    "jwk,why",
    [
        (jose.ec_key("p").as_dict(private=True), "private key material"),
        (OctKey.generate_key(256).as_dict(), "'oct' is not accepted"),
        (RSAKey.generate_key(1024, private=True).as_dict(private=False), "at least 2048 bits"),
        (ECKey.generate_key("P-384").as_dict(private=False), "curve 'P-384'"),
        ({**jose.ec_key("x").as_dict(private=False), "alg": "RS256"}, "'RS256' is not accepted for a EC key"),
        ({**jose.ec_key("x").as_dict(private=False), "alg": "HS256"}, "'HS256' is not accepted"),
        ({**jose.ec_key("x").as_dict(private=False), "use": "enc"}, "use must be sig"),
        ({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, "not a valid EC key"),
        ("not an object", "not a JSON object"),
    ],
)
def test_refused_keys(jwk, why):
    with pytest.raises(jwks.JWKSError, match=why):
        jwks.parse_jwks({"keys": [jwk]})


@pytest.mark.parametrize(
    "raw,why",
    [
        ("{", "not valid JSON"),
        ("[]", '"keys" array'),
        ('{"keys": []}', "no keys"),
        (json.dumps(jose.public_jwks(*[jose.ec_key(f"k{n}") for n in range(21)])), "more than 20 keys"),
        (json.dumps(jose.public_jwks(jose.ec_key("same"), jose.ec_key("same"))), "same kid"),
    ],
)
def test_refused_sets(raw, why):
    with pytest.raises(jwks.JWKSError, match=why):
        jwks.parse_jwks(raw)


def test_oversized_jwks_is_refused(settings):
    settings.GATEHOUSE_JWKS_MAX_BYTES = 1024
    big = json.dumps(jose.public_jwks(*[jose.ec_key(f"k{n}") for n in range(10)]))
    assert len(big) > 1024
    with pytest.raises(jwks.JWKSError, match="larger than 1024 bytes"):
        jwks.parse_jwks(big)


@pytest.mark.parametrize(
    "url,why",
    [
        ("http://keys.example.com/jwks", "only https"),
        ("ftp://keys.example.com/jwks", "only https"),
        ("https://user:pw@keys.example.com/jwks", "no user information"),
        ("https://127.0.0.1/jwks", "private, loopback or link-local"),
        ("https://10.0.0.8/jwks", "private, loopback or link-local"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
        ("https://[::1]/jwks", "private, loopback or link-local"),
        ("https://[::ffff:192.168.1.1]/jwks", "private, loopback or link-local"),
        ("https://localhost/jwks", "private, loopback or link-local"),
    ],
)
def test_urls_gatehouse_never_fetches(url, why):
    with pytest.raises(jwks.FetchError, match=why):
        jwks.fetch_json(url)


def test_loopback_is_refused_unless_the_test_setting_allows_it(settings):
    with LocalIssuer() as issuer:
        with pytest.raises(jwks.FetchError, match="only https"):
            jwks.fetch_jwks(issuer.jwks_uri)
        settings.GATEHOUSE_JWKS_ALLOW_LOOPBACK = True
        assert [k.kid for k in jwks.fetch_jwks(issuer.jwks_uri)] == ["issuer-key-1"]


@pytest.fixture
def loopback(settings):
    settings.GATEHOUSE_JWKS_ALLOW_LOOPBACK = True
    jwks.key_cache.clear()
    yield settings
    jwks.key_cache.clear()


def test_redirects_are_not_followed(loopback):
    with LocalIssuer() as issuer:
        issuer.redirect_to = "http://169.254.169.254/latest/meta-data"
        with pytest.raises(jwks.FetchError, match="HTTP 302"):
            jwks.fetch_jwks(issuer.jwks_uri)
        assert issuer.hits == ["/jwks"]


def test_oversized_answer_is_refused(loopback):
    loopback.GATEHOUSE_JWKS_MAX_BYTES = 2048
    with LocalIssuer() as issuer:
        issuer.body_override = b'{"keys": [' + b" " * 100_000 + b"]}"
        with pytest.raises(jwks.FetchError, match="more than 2048 bytes"):
            jwks.fetch_jwks(issuer.jwks_uri)


@pytest.mark.slow  # waits out the fetch time limit (1 s)
def test_slow_jwks_uri_is_refused_within_the_time_limit(loopback):
    loopback.GATEHOUSE_JWKS_TIMEOUT = 1
    with LocalIssuer() as issuer:
        issuer.slow = True  # the handler hangs until the test ends
        with pytest.raises(jwks.FetchError, match="longer than 1 seconds"):
            jwks.fetch_jwks(issuer.jwks_uri)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def shift(self, seconds: float) -> None:
        self.now += seconds


def test_keys_are_cached_and_an_unknown_kid_refreshes_at_most_once_per_interval(loopback, monkeypatch):
    loopback.GATEHOUSE_JWKS_MIN_REFRESH_SECONDS = 30
    time_machine = Clock()
    monkeypatch.setattr(jwks.key_cache, "clock", time_machine)
    with LocalIssuer() as issuer:
        assert [k.kid for k in jwks.key_cache.keys(issuer.jwks_uri)] == ["issuer-key-1"]
        jwks.key_cache.keys(issuer.jwks_uri, kid="issuer-key-1")
        jwks.key_cache.keys(issuer.jwks_uri, kid="made-up")  # too soon to refresh for an unknown kid
        assert issuer.hits == ["/jwks"]
        issuer.key = jose.ec_key("issuer-key-2")  # the issuer rotates
        time_machine.shift(31)
        assert [k.kid for k in jwks.key_cache.keys(issuer.jwks_uri, kid="issuer-key-2")] == ["issuer-key-2"]
        assert issuer.hits == ["/jwks", "/jwks"]
        time_machine.shift(60)
        jwks.key_cache.keys(issuer.jwks_uri, kid="issuer-key-2")
        assert len(issuer.hits) == 2
        time_machine.shift(loopback.GATEHOUSE_JWKS_CACHE_SECONDS)
        jwks.key_cache.keys(issuer.jwks_uri)
        assert len(issuer.hits) == 3


def test_discovery_must_name_the_same_issuer(loopback):
    with LocalIssuer() as issuer:
        assert jwks.discover_jwks_uri(issuer.url) == issuer.jwks_uri
    with (
        LocalIssuer(issuer="https://token.actions.githubusercontent.com") as impostor,
        pytest.raises(jwks.FetchError, match="different issuer"),
    ):
        jwks.discover_jwks_uri(impostor.url)
