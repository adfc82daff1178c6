"""Request handling shared by the OAuth endpoints: strict form parsing, client credentials extraction, the issuer."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from django.conf import settings
from django.http import HttpRequest

from tokens.assertions import ASSERTION_TYPE, MAX_ASSERTION
from tokens.exceptions import InvalidClient, InvalidRequest, RequestTooLarge

MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 16
MAX_CLIENT_ID = 128
MAX_SECRET = 256
FORM_TYPE = "application/x-www-form-urlencoded"
# Parameters that may be sent more than once (RFC 8707 section 2: `resource` names one resource server each time).
REPEATABLE = frozenset({"resource"})


class Form(dict[str, str]):
    """The form's fields (the first value of a repeatable one), and every value of the repeatable ones."""

    def __init__(self) -> None:
        super().__init__()
        self.repeated: dict[str, list[str]] = {}

    def getlist(self, name: str) -> list[str]:
        return self.repeated.get(name, [])


def parse_form(request: HttpRequest) -> Form:
    """The request's form fields; refuses other content types, duplicates (but of REPEATABLE ones), NUL bytes, bad
    UTF-8, huge bodies."""
    if request.content_type != FORM_TYPE:
        raise InvalidRequest(f"the request body must be {FORM_TYPE}")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidRequest("invalid Content-Length") from None
    if length > MAX_BODY_BYTES:
        raise RequestTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = request.body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not valid UTF-8") from None
    except ValueError:
        raise InvalidRequest(f"too many parameters (at most {MAX_FIELDS})") from None
    form = Form()
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise InvalidRequest("parameters may not contain NUL characters")
        if name in REPEATABLE:
            form.repeated.setdefault(name, []).append(value)
            form.setdefault(name, value)
            continue
        if name in form:
            raise InvalidRequest(f"parameter {name!r} was sent more than once")
        form[name] = value
    return form


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    secret: str
    basic: bool  # sent in the Authorization header; failures then answer with WWW-Authenticate: Basic
    assertion: str = ""  # a JWT client assertion (private_key_jwt or federated); `secret` is then ""


def basic_challenge(description: str) -> dict[str, str]:
    """The WWW-Authenticate header of a 401 from the OAuth endpoints (RFC 6749 section 5.2).

    The Basic challenge carries the error as auth-params, as RFC 6750 section 3 does for Bearer: clients such
    as openid-client 6 and oauth4webapi read the error from the challenge when there is one, not from the body.
    Values are RFC 7235 quoted-strings: a quote or backslash is escaped, a control character dropped.
    """
    quoted = "".join("\\" + c if c in '"\\' else c for c in description if c.isprintable())
    return {
        "WWW-Authenticate": (
            f'Basic realm="gatehouse", charset="UTF-8", error="invalid_client", error_description="{quoted}"'
        )
    }


def _invalid_basic(description: str) -> InvalidClient:
    return InvalidClient(description, headers=basic_challenge(description))


def client_credentials(request: HttpRequest, form: dict[str, str]) -> ClientCredentials:
    """Client authentication per RFC 6749 section 2.3.1: client_secret_basic or client_secret_post, not both."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if "client_assertion" in form or "client_assertion_type" in form:
        return _assertion_credentials(form, basic=scheme.lower() == "basic")
    if scheme.lower() == "basic":
        if "client_secret" in form:
            raise InvalidRequest("use one client authentication method: Basic or client_secret in the body")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise _invalid_basic("malformed Basic authorization header") from None
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            raise _invalid_basic("malformed Basic authorization header")
        try:
            client_id = unquote_plus(raw_id, errors="strict")
            secret = unquote_plus(raw_secret, errors="strict")
        except UnicodeDecodeError:
            raise _invalid_basic("malformed Basic authorization header") from None
        if "client_id" in form and form["client_id"] != client_id:
            raise InvalidRequest("client_id in the body does not match the Authorization header")
        creds = ClientCredentials(client_id, secret, basic=True)
    elif "client_secret" in form:
        creds = ClientCredentials(form.get("client_id", ""), form["client_secret"], basic=False)
    else:
        required = "client authentication is required"
        raise InvalidClient(required, headers=basic_challenge(required), reason="missing_credentials")
    if (
        not creds.client_id
        or not creds.secret
        or len(creds.client_id) > MAX_CLIENT_ID
        or len(creds.secret) > MAX_SECRET
        or "\x00" in creds.client_id + creds.secret
    ):
        raise InvalidClient(
            "client authentication failed",
            headers=basic_challenge("client authentication failed") if creds.basic else None,
            client_id=creds.client_id[:MAX_CLIENT_ID].replace("\x00", ""),
        )
    return creds


def issuer() -> str:
    """GATEHOUSE_ISSUER: fixed by configuration, never from the request (its Host header is the caller's choice)."""
    return settings.GATEHOUSE_ISSUER


def _assertion_credentials(form: dict[str, str], *, basic: bool) -> ClientCredentials:
    """RFC 7521 section 4.2: client_assertion_type and client_assertion, client_id optional; no other method."""
    if basic or "client_secret" in form:
        raise InvalidRequest("use one client authentication method: a client assertion or a secret, not both")
    client_id = form.get("client_id", "")
    shown_id = client_id[:MAX_CLIENT_ID].replace("\x00", "")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient("client authentication failed", reason="unsupported_assertion_type", client_id=shown_id)
    assertion = form.get("client_assertion", "")
    if not assertion or len(assertion) > MAX_ASSERTION or len(client_id) > MAX_CLIENT_ID:
        raise InvalidClient("client authentication failed", reason="malformed_assertion", client_id=shown_id)
    return ClientCredentials(client_id, "", basic=False, assertion=assertion)
