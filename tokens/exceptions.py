"""OAuth errors (RFC 6749 section 5.2, RFC 7009, RFC 7662): one class per code, one handler renders them."""


class OAuthError(Exception):
    error = "invalid_request"
    status = 400

    def __init__(self, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.headers = headers or {}


class InvalidRequest(OAuthError):
    error = "invalid_request"


class RequestTooLarge(OAuthError):
    error = "invalid_request"
    status = 413


class MethodNotAllowed(OAuthError):
    error = "invalid_request"
    status = 405


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401

    def __init__(
        self,
        description: str,
        *,
        headers: dict[str, str] | None = None,
        reason: str = "malformed_credentials",
        client_id: str = "",
    ) -> None:
        super().__init__(description, headers=headers)
        # Why, and who claimed to ask: for the log and the failure counters, never shown to the client.
        self.reason = reason
        self.client_id = client_id


class UnauthorizedClient(OAuthError):
    """An authenticated client asking for something it is not allowed (e.g. introspection)."""

    error = "unauthorized_client"
    status = 403


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 section 2: a `resource` that is malformed, unknown, or not one the client may get a token for."""

    error = "invalid_target"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503


class SlowDown(OAuthError):
    """Too many failed client authentications from one address (429, with Retry-After)."""

    error = "slow_down"
    status = 429
