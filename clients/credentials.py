"""Credential formats: client ids, client secrets and access tokens.

A secret or token is `<prefix><43 base62 chars of 256 random bits><6 base62 chars of CRC32>`, e.g.
`gth_cs_...` for a client secret and `gth_at_...` for an access token. The fixed prefix lets secret scanners
find leaked values; the checksum lets them (and us) reject a mistyped or made-up value without a lookup.
Only the SHA-256 digest of a secret or token is stored: for 256-bit random values a fast digest is as safe as
a password hasher and costs microseconds instead of a third of a second per request.
"""

import hashlib
import secrets
import zlib

CLIENT_ID_PREFIX = "gth_ci_"
CLIENT_SECRET_PREFIX = "gth_cs_"
ACCESS_TOKEN_PREFIX = "gth_at_"

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LENGTH = 43  # 62**43 > 2**256
_CHECKSUM_LENGTH = 6  # 62**6 > 2**32
CREDENTIAL_LENGTH = len(CLIENT_SECRET_PREFIX) + _BODY_LENGTH + _CHECKSUM_LENGTH


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECKSUM_LENGTH)


def new_credential(prefix: str) -> str:
    """A fresh random credential with the given prefix and a trailing checksum."""
    body = _base62(secrets.randbits(256), _BODY_LENGTH)
    return f"{prefix}{body}{_checksum(prefix + body)}"


def is_well_formed(value: str, prefix: str) -> bool:
    """True when the value has the prefix, length and checksum of a credential we could have issued."""
    if len(value) != CREDENTIAL_LENGTH or not value.startswith(prefix):
        return False
    body, checksum = value[:-_CHECKSUM_LENGTH], value[-_CHECKSUM_LENGTH:]
    return body.isascii() and body[len(prefix) :].isalnum() and _checksum(body) == checksum


def digest(value: str) -> str:
    """The stored form of a secret or token: hex SHA-256."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def hint(value: str) -> str:
    """A short non-secret reminder of a credential for display: its prefix and last four characters."""
    return f"{value[:7]}…{value[-4:]}"


_CLIENT_ID_LENGTH = len(CLIENT_ID_PREFIX) + 22


def is_client_id(value: str) -> bool:
    """True when the value has the shape of a client id (not a secret or token pasted in its place)."""
    body = value[len(CLIENT_ID_PREFIX) :]
    return len(value) == _CLIENT_ID_LENGTH and value.startswith(CLIENT_ID_PREFIX) and body.isascii() and body.isalnum()


def new_client_id() -> str:
    """A public client identifier: prefix plus 128 random bits in base62."""
    return CLIENT_ID_PREFIX + _base62(secrets.randbits(128), 22)
