"""Keys and client assertions for the secretless tests (joserfc on the signing side too: a client library's job).

Keys made here are test-only; RSA generation is slow, so one RSA key per kid is made per process.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from clients import jwks

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALG_FOR = {"EC": "ES256", "RSA": "RS256", "OKP": "EdDSA"}

Key = ECKey | RSAKey | OKPKey


def ec_key(kid: str = "ec-1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


@functools.cache
def rsa_key(kid: str = "rsa-1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def okp_key(kid: str = "ed-1") -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


def public_jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def public_keys(*keys: Key) -> list[jwks.PublicKey]:
    return jwks.parse_jwks(public_jwks(*keys))


def sign(key: Key | OctKey, claims: dict[str, Any], *, alg: str | None = None, **header: Any) -> str:
    alg = alg or ALG_FOR[key.key_type]
    head = {"alg": alg, **header}
    if "kid" not in head and key.kid:
        head["kid"] = key.kid
    return jwt.encode(head, claims, key, algorithms=[alg])


def claims_for(client_id: str, aud: str, *, lifetime: int = 60, now: float | None = None, **extra: Any) -> dict:
    """private_key_jwt claims (RFC 7523 section 3): iss = sub = the client id, a fresh jti."""
    issued = int(now if now is not None else time.time())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(16),
        **extra,
    }


def unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` JWT, built by hand because no decent library will make one."""
    import base64

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def hmac_with_public_key(public: Key, claims: dict[str, Any]) -> str:
    """The algorithm-confusion attack: HS256 keyed with the bytes of the server's known public key."""
    secret = OctKey.import_key(json.dumps(public.as_dict(private=False)).encode())
    return jwt.encode({"alg": "HS256", "kid": public.kid}, claims, secret, algorithms=["HS256"])


def assertion_form(assertion: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **extra}
