"""Client authentication by JWT assertion (RFC 7521, RFC 7523 sections 2.2 and 3): private_key_jwt and federated.

The assertion's unverified claims only say where to look: `iss` = `sub` = a client id for private_key_jwt, or a
trust's issuer and a bound subject for a federated workload. The signature is then verified by joserfc with the
algorithms that key or trust allows (never `none`, never HMAC), and the claims are checked. Every refusal is the
same `invalid_client` to the caller; the precise reason (AssertionRefused.reason, a fixed vocabulary) goes to the
log and the metrics. Replay (`jti`) is refused by the database when the token is issued (tokens.models).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    InvalidKeyIdError,
    InvalidKeyTypeError,
    JoseError,
    UnsupportedAlgorithmError,
)

from clients import credentials, jwks
from clients.models import Client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION = 8192
MAX_JTI = 255
# `typ` values of a JWT meant as a client assertion (rfc7523bis names client-authentication+jwt); another typed
# token (an RFC 9068 access token "at+jwt", a DPoP proof, a logout token) is not one, even if its claims fit.
ASSERTION_TYPES = {"jwt", "application/jwt", "client-authentication+jwt", "application/client-authentication+jwt"}

# The reasons a refusal is logged and counted under (ops.metrics labels: keep this set closed).
REASONS = (
    "unsupported_assertion_type",
    "malformed_assertion",
    "wrong_token_type",
    "alg_not_allowed",
    "unknown_client",
    "unknown_issuer",
    "unbound_subject",
    "wrong_auth_method",
    "disabled_client",
    "disabled_trust",
    "client_id_mismatch",
    "unknown_kid",
    "wrong_key_type",
    "bad_signature",
    "keys_unavailable",
    "wrong_audience",
    "expired",
    "exp_too_far",
    "not_yet_valid",
    "missing_jti",
    "replayed_jti",
)


class AssertionRefused(Exception):
    """An assertion Gatehouse does not accept; `reason` is one of REASONS, `client_id` whom it claimed to be."""

    def __init__(self, reason: str, client_id: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.client_id = client_id


@dataclass(frozen=True)
class VerifiedAssertion:
    """Who an accepted assertion authenticates, the key that signed it, and its replay identity."""

    client_pk: int
    client_id: str
    key_pk: int | None  # a registered key (private_key_jwt with an inline JWKS); None for jwks_uri or federated
    replay_scope: str  # "client:<pk>" or "trust:<pk>": jti values are unique within it
    jti: str | None  # None: a federated token without a jti (nothing to record)
    expires_at: int


def _b64_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def peek(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, NOT verified: used only to find the key that must verify it."""
    if len(assertion) > MAX_ASSERTION:
        raise AssertionRefused("malformed_assertion")
    parts = assertion.split(".")
    if len(parts) != 3:
        raise AssertionRefused("malformed_assertion")
    try:
        header, claims = _b64_json(parts[0]), _b64_json(parts[1])
    except (ValueError, UnicodeError, binascii.Error):
        raise AssertionRefused("malformed_assertion") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AssertionRefused("malformed_assertion")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in ASSERTION_TYPES):
        raise AssertionRefused("wrong_token_type")
    return header, claims


def _as_list(aud: Any) -> list[str]:
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return aud
    return []


def _number(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssertionRefused("malformed_assertion")
    return int(value)


def _check_times(claims: dict[str, Any], now: int, *, max_lifetime: int | None, client_id: str) -> int:
    leeway = settings.GATEHOUSE_ASSERTION_LEEWAY
    exp = _number(claims, "exp")
    if exp is None or exp <= now - leeway:
        raise AssertionRefused("expired", client_id)
    if max_lifetime is not None and exp > now + max_lifetime + leeway:
        raise AssertionRefused("exp_too_far", client_id)
    nbf, iat = _number(claims, "nbf"), _number(claims, "iat")
    if (nbf is not None and nbf > now + leeway) or (iat is not None and iat > now + leeway):
        raise AssertionRefused("not_yet_valid", client_id)
    return exp


def _verify_signature(
    assertion: str, header: dict[str, Any], keys: list[dict[str, Any]], algorithms: list[str], client_id: str
) -> None:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise AssertionRefused("alg_not_allowed", client_id)
    kid = header.get("kid")
    if kid is not None:
        keys = [k for k in keys if k.get("kid") == kid]
        if not keys:
            raise AssertionRefused("unknown_kid", client_id)
    # A key pinned to one algorithm signs only with it; a key's type bounds the rest (jwks.ALGORITHMS_BY_KTY).
    usable = [k for k in keys if alg in jwks.ALGORITHMS_BY_KTY.get(k.get("kty", ""), ()) and k.get("alg", alg) == alg]
    if not usable:
        raise AssertionRefused("wrong_key_type", client_id)
    for key in usable:
        try:
            jwt.decode(assertion, jwks.imported(key), algorithms=[alg])
            return
        except BadSignatureError:
            continue
        except InvalidKeyIdError:
            raise AssertionRefused("unknown_kid", client_id) from None
        except InvalidKeyTypeError:
            raise AssertionRefused("wrong_key_type", client_id) from None
        except UnsupportedAlgorithmError:
            raise AssertionRefused("alg_not_allowed", client_id) from None
        except (JoseError, ValueError, TypeError):
            raise AssertionRefused("malformed_assertion", client_id) from None
    raise AssertionRefused("bad_signature", client_id)


_CLIENT_KEYS_SQL = """
SELECT c.id, c.is_active, c.auth_method, c.jwks_uri, k.id, k.jwk
FROM clients_client c LEFT JOIN clients_clientkey k ON k.client_id = c.id AND k.retired_at IS NULL
WHERE c.client_id = %s
"""

_TRUST_SQL = """
SELECT t.id, t.is_active, t.jwks, t.jwks_uri, t.discover, t.audience, t.algorithms,
       c.id, c.client_id, c.is_active, c.auth_method
FROM clients_trust t LEFT JOIN clients_client c ON c.trust_id = t.id AND c.subject = %s
WHERE t.issuer = %s
"""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def verify(assertion: str, *, client_id: str, audiences: list[str], now: datetime) -> VerifiedAssertion:
    """Authenticate a client by its assertion; raises AssertionRefused with the reason.

    `client_id` is the request's client_id parameter ("" when absent); `audiences` the values `aud` may hold
    for private_key_jwt (Gatehouse's issuer and the endpoint's URL).
    """
    header, claims = peek(assertion)
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or not isinstance(sub, str) or not iss or not sub:
        raise AssertionRefused("malformed_assertion", client_id)
    if iss == sub and credentials.is_client_id(iss):
        return _private_key_jwt(assertion, header, claims, client_id=client_id, audiences=audiences, now=now)
    return _federated(assertion, header, claims, client_id=client_id, now=now)


def _private_key_jwt(
    assertion: str,
    header: dict[str, Any],
    claims: dict[str, Any],
    *,
    client_id: str,
    audiences: list[str],
    now: datetime,
) -> VerifiedAssertion:
    claimed = claims["iss"]
    if client_id and client_id != claimed:
        raise AssertionRefused("client_id_mismatch", client_id)
    with connection.cursor() as cursor:
        cursor.execute(_CLIENT_KEYS_SQL, [claimed])
        rows = cursor.fetchall()
    if not rows:
        raise AssertionRefused("unknown_client", claimed)
    client_pk, is_active, auth_method, jwks_uri = rows[0][:4]
    if auth_method != Client.AuthMethod.PRIVATE_KEY_JWT:
        raise AssertionRefused("wrong_auth_method", claimed)
    if not is_active:
        raise AssertionRefused("disabled_client", claimed)
    if jwks_uri:
        try:
            fetched = jwks.key_cache.keys(jwks_uri, kid=header.get("kid"))
        except jwks.JWKSError:
            raise AssertionRefused("keys_unavailable", claimed) from None
        keys = [k.jwk for k in fetched]
        key_pks: dict[str, int | None] = {}
    else:
        stored = [(pk, _json(jwk)) for _, _, _, _, pk, jwk in rows if pk is not None]
        keys = [jwk for _, jwk in stored]
        key_pks = {jwk["kid"]: pk for pk, jwk in stored}
    _verify_signature(assertion, header, keys, list(jwks.ALGORITHMS), claimed)
    if not set(_as_list(claims.get("aud"))) & set(audiences):
        raise AssertionRefused("wrong_audience", claimed)
    epoch = int(now.timestamp())
    exp = _check_times(claims, epoch, max_lifetime=settings.GATEHOUSE_ASSERTION_MAX_LIFETIME, client_id=claimed)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
        raise AssertionRefused("missing_jti", claimed)
    key_pk = _signing_key_pk(assertion, header, keys, key_pks)
    return VerifiedAssertion(client_pk, claimed, key_pk, f"client:{client_pk}", jti, exp)


def _signing_key_pk(
    assertion: str, header: dict[str, Any], keys: list[dict[str, Any]], key_pks: dict[str, int | None]
) -> int | None:
    """The registered key that verified the assertion (by kid; without one, the only key that verifies)."""
    if not key_pks:
        return None
    kid = header.get("kid")
    if kid is not None:
        return key_pks.get(kid)
    for key in keys:
        try:
            jwt.decode(assertion, jwks.imported(key), algorithms=[header["alg"]])
        except JoseError:
            continue
        return key_pks.get(key["kid"])
    return None


def _federated(
    assertion: str, header: dict[str, Any], claims: dict[str, Any], *, client_id: str, now: datetime
) -> VerifiedAssertion:
    iss, sub = claims["iss"], claims["sub"]
    with connection.cursor() as cursor:
        cursor.execute(_TRUST_SQL, [sub, iss])
        row = cursor.fetchone()
    if row is None:
        raise AssertionRefused("unknown_issuer", client_id)
    trust_pk, trust_active, inline, jwks_uri, discover, audience, algorithms, client_pk, bound_id, active, method = row
    if client_pk is None:
        raise AssertionRefused("unbound_subject", client_id)
    if client_id and client_id != bound_id:
        raise AssertionRefused("client_id_mismatch", client_id)
    if not trust_active:
        raise AssertionRefused("disabled_trust", bound_id)
    if method != Client.AuthMethod.FEDERATED:
        raise AssertionRefused("wrong_auth_method", bound_id)
    if not active:
        raise AssertionRefused("disabled_client", bound_id)
    inline = _json(inline)
    if inline is not None:
        keys = list(inline["keys"])
    else:
        try:
            source = iss if discover else jwks_uri
            keys = [k.jwk for k in jwks.key_cache.keys(source, discover=bool(discover), kid=header.get("kid"))]
        except jwks.JWKSError:
            raise AssertionRefused("keys_unavailable", bound_id) from None
    allowed = [a for a in _json(algorithms) if a in jwks.ALGORITHMS]
    _verify_signature(assertion, header, keys, allowed, bound_id)
    if audience not in _as_list(claims.get("aud")):
        raise AssertionRefused("wrong_audience", bound_id)
    exp = _check_times(claims, int(now.timestamp()), max_lifetime=None, client_id=bound_id)
    jti = claims.get("jti")
    if jti is not None and (not isinstance(jti, str) or not jti or len(jti) > MAX_JTI):
        raise AssertionRefused("malformed_assertion", bound_id)
    return VerifiedAssertion(client_pk, bound_id, None, f"trust:{trust_pk}", jti, exp)


def still_authenticates(verified: VerifiedAssertion) -> bool:
    """After a refused INSERT: does the client (and its key) still authenticate? Then the scope was refused."""
    clients = Client.objects.filter(pk=verified.client_pk, is_active=True)
    if verified.key_pk is not None:
        clients = clients.filter(keys__pk=verified.key_pk, keys__retired_at__isnull=True)
    return clients.exists()
