"""Public keys from outside: validating a pasted JWKS, and fetching one from a URL without being turned against
the network Gatehouse runs in (SSRF).

A JWKS is accepted only if every key is a public signing key of an allowed type (RSA >= 2048 bits, EC P-256,
OKP Ed25519), without private members, within size limits. A URL is fetched over HTTPS only, from a public
address (checked after DNS resolution, and the connection goes to the address that was checked), with no
redirects, a byte limit and a time limit; results are cached per process for GATEHOUSE_JWKS_CACHE_SECONDS.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

# RFC 9864 deprecates "EdDSA" in favour of "Ed25519"; both name the same signature, and clients still send EdDSA.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA", "Ed25519")
# What each key type may sign with. HMAC ("oct") keys are never accepted: a shared secret is not a public key.
ALGORITHMS_BY_KTY = {"RSA": ("RS256", "PS256"), "EC": ("ES256",), "OKP": ("EdDSA", "Ed25519")}
CURVES = {"EC": ("P-256",), "OKP": ("Ed25519",)}
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_KEY_CLASSES: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}
MIN_RSA_BITS = 2048
MAX_KEYS = 20
MAX_KID = 200


class JWKSError(ValueError):
    """A JWKS (or the document that should hold one) that Gatehouse refuses; the message says why."""


@dataclass(frozen=True)
class PublicKey:
    """One validated public key: its id (the RFC 7638 thumbprint when the JWK has none), type and JWK."""

    kid: str
    kty: str
    alg: str
    jwk: dict[str, Any]
    thumbprint: str


def parse_jwks(raw: str | bytes | dict[str, Any]) -> list[PublicKey]:
    """Validate a JWKS (text or parsed) and return its keys; raises JWKSError with the reason."""
    if isinstance(raw, str | bytes):
        if len(raw) > settings.GATEHOUSE_JWKS_MAX_BYTES:
            raise JWKSError(f"the JWKS is larger than {settings.GATEHOUSE_JWKS_MAX_BYTES} bytes")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise JWKSError("the JWKS is not valid JSON") from None
    else:
        data = raw
        if len(json.dumps(data)) > settings.GATEHOUSE_JWKS_MAX_BYTES:
            raise JWKSError(f"the JWKS is larger than {settings.GATEHOUSE_JWKS_MAX_BYTES} bytes")
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JWKSError('a JWKS is a JSON object with a "keys" array')
    if not data["keys"]:
        raise JWKSError("the JWKS has no keys")
    if len(data["keys"]) > MAX_KEYS:
        raise JWKSError(f"the JWKS has more than {MAX_KEYS} keys")
    keys = [_public_key(jwk, n) for n, jwk in enumerate(data["keys"])]
    kids = [k.kid for k in keys]
    if len(set(kids)) != len(kids):
        raise JWKSError("two keys in the JWKS have the same kid")
    return keys


def _public_key(jwk: Any, n: int) -> PublicKey:
    where = f"key {n}"
    if not isinstance(jwk, dict):
        raise JWKSError(f"{where} is not a JSON object")
    kty = jwk.get("kty")
    if kty not in ALGORITHMS_BY_KTY:
        raise JWKSError(f"{where}: key type {kty!r} is not accepted (RSA, EC P-256 or OKP Ed25519)")
    if any(member in jwk for member in PRIVATE_MEMBERS):
        raise JWKSError(f"{where} holds private key material: register the public key only")
    if jwk.get("use", "sig") != "sig":
        raise JWKSError(f"{where}: use must be sig")
    alg = jwk.get("alg", "")
    if alg and alg not in ALGORITHMS_BY_KTY[kty]:
        raise JWKSError(f"{where}: algorithm {alg!r} is not accepted for a {kty} key")
    if kty in CURVES and jwk.get("crv") not in CURVES[kty]:
        raise JWKSError(f"{where}: curve {jwk.get('crv')!r} is not accepted for a {kty} key")
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID or not kid.isprintable()):
        raise JWKSError(f"{where}: kid must be 1-{MAX_KID} printable characters")
    try:
        key = _KEY_CLASSES[kty].import_key(jwk)
    except (JoseError, ValueError, TypeError) as error:
        raise JWKSError(f"{where} is not a valid {kty} key ({error})") from None
    if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
        raise JWKSError(f"{where}: RSA keys must have at least {MIN_RSA_BITS} bits")
    public = key.as_dict(private=False)
    thumbprint = key.thumbprint()
    kid = kid or thumbprint
    public["kid"] = kid
    return PublicKey(kid=kid, kty=kty, alg=alg, jwk=public, thumbprint=thumbprint)


def imported(jwk: dict[str, Any]) -> RSAKey | ECKey | OKPKey:
    """The joserfc key object of a validated public JWK, imported once per process (importing costs as much as
    verifying a signature: see docs/decisions.md)."""
    return _imported(json.dumps(jwk, sort_keys=True))


@functools.lru_cache(maxsize=1024)
def _imported(text: str) -> RSAKey | ECKey | OKPKey:
    jwk = json.loads(text)
    return _KEY_CLASSES[jwk["kty"]].import_key(jwk)


# --- fetching -----------------------------------------------------------------------------------------------------


class FetchError(JWKSError):
    """A URL Gatehouse would not fetch, or whose answer it refuses."""


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback and settings.GATEHOUSE_JWKS_ALLOW_LOOPBACK:
        return True
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> tuple[str, str, int, str]:
    """The URL's scheme, host, port and path; refuses what Gatehouse never fetches (before any DNS lookup)."""
    if len(url) > 500:
        raise FetchError("the URL is longer than 500 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("the URL is not valid") from None
    scheme = parts.scheme.lower()
    plain_allowed = settings.GATEHOUSE_JWKS_ALLOW_LOOPBACK and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if scheme != "https" and not (scheme == "http" and plain_allowed):
        raise FetchError("only https:// URLs are fetched")
    if not parts.hostname or parts.username or parts.password:
        raise FetchError("the URL needs a host and no user information")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def _resolve(host: str, port: int, deadline: float) -> str:
    """One public address of the host (all of them must be public: a name must not mix in a private one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise FetchError(f"cannot resolve {host}") from None
    if time.monotonic() > deadline:
        raise FetchError("timed out resolving the host")
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(_address_allowed(a) for a in addresses):
        raise FetchError(f"{host} resolves to a private, loopback or link-local address")
    return addresses[0]


def fetch_json(url: str) -> dict[str, Any]:
    """GET a JSON document: HTTPS, public address, no redirects, at most GATEHOUSE_JWKS_MAX_BYTES and
    GATEHOUSE_JWKS_TIMEOUT seconds in all. Raises FetchError with the reason."""
    scheme, host, port, path = check_url(url)
    timeout = settings.GATEHOUSE_JWKS_TIMEOUT
    deadline = time.monotonic() + timeout
    address = _resolve(host, port, deadline)
    conn: http.client.HTTPConnection
    try:
        # Connect to the address that was checked (not a second lookup a rebinding DNS server could answer
        # differently); TLS still verifies the certificate against the host name.
        sock = socket.create_connection((address, port), timeout=timeout)
        if scheme == "https":
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=host)
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        conn.request("GET", path, headers={"Accept": "application/json", "User-Agent": "gatehouse"})
        response = conn.getresponse()
        if response.status != 200:
            raise FetchError(f"{url} answered HTTP {response.status} (redirects are not followed)")
        limit = settings.GATEHOUSE_JWKS_MAX_BYTES
        body = b""
        while len(body) <= limit:
            if time.monotonic() > deadline:
                raise FetchError(f"{url} took longer than {timeout} seconds")
            chunk = response.read1(65536)
            if not chunk:
                break
            body += chunk
        if len(body) > limit:
            raise FetchError(f"{url} answered more than {limit} bytes")
    except TimeoutError:
        raise FetchError(f"{url} took longer than {timeout} seconds") from None
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        raise FetchError(f"cannot fetch {url}: {type(error).__name__}") from None
    finally:
        if "conn" in locals():
            conn.close()
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FetchError(f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise FetchError(f"{url} did not answer a JSON object")
    return document


def discover_jwks_uri(issuer: str) -> str:
    """The jwks_uri in an issuer's OIDC discovery document (its `issuer` must match exactly)."""
    document = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if document.get("issuer") != issuer:
        raise FetchError("the discovery document names a different issuer")
    uri = document.get("jwks_uri")
    if not isinstance(uri, str):
        raise FetchError("the discovery document has no jwks_uri")
    return uri


def fetch_jwks(url: str) -> list[PublicKey]:
    """Fetch and validate the JWKS at `url` (not cached: see KeyCache)."""
    return parse_jwks(fetch_json(url))


class KeyCache:
    """Per-process cache of fetched key sets, by URL (or issuer, for discovery), for GATEHOUSE_JWKS_CACHE_SECONDS.

    A key id the cached set lacks makes one early refresh, at most every GATEHOUSE_JWKS_MIN_REFRESH_SECONDS, so a
    rotated-in key works at once while made-up key ids cannot make Gatehouse hammer the issuer.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[float, list[PublicKey]]] = {}
        self._lock = threading.Lock()
        self.clock = clock

    def keys(self, source: str, *, discover: bool = False, kid: str | None = None) -> list[PublicKey]:
        now = self.clock()
        with self._lock:
            entry = self._entries.get(source)
        if entry is not None:
            fetched_at, keys = entry
            fresh = now - fetched_at < settings.GATEHOUSE_JWKS_CACHE_SECONDS
            known = kid is None or any(k.kid == kid for k in keys)
            if fresh and (known or now - fetched_at < settings.GATEHOUSE_JWKS_MIN_REFRESH_SECONDS):
                return keys
        url = discover_jwks_uri(source) if discover else source
        keys = fetch_jwks(url)
        with self._lock:
            self._entries[source] = (self.clock(), keys)
        return keys

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


key_cache = KeyCache()
