"""What became of one OAuth request: the views fill it in, the access log and the metrics (ops) read it."""

from __future__ import annotations

from dataclasses import dataclass

from clients import credentials


@dataclass(slots=True)
class Outcome:
    """What became of one OAuth request, for the access log and metrics (ops.middleware reads `request.oauth`)."""

    endpoint: str
    client_id: str = ""  # as presented; trust it only when `authenticated`
    authenticated: bool = False
    result: str = ""  # issued, active, inactive, revoked; or the OAuth error code
    reason: str = ""  # why client authentication failed
    address: str = ""  # the client's address as the throttle saw it (tokens.throttle.client_address)
    quiet: bool = False  # a throttled failure: counted in the metrics, not logged line by line


def loggable_client_id(value: str) -> str:
    """The presented client id if it has the shape of one, so a secret pasted in its place is never logged."""
    return value if credentials.is_client_id(value) else "(malformed)"
