"""What the registry tells the layers above it, inside the transaction of a change (docs/decisions.md).

The registry knows nothing of tokens, yet a change that ends authority must end the tokens it granted in the same
transaction. So each service sends one of these inside its atomic() block, with the client row locked, and
`tokens` receives them synchronously (tokens/receivers.py): the receivers' writes commit or roll back with the
change. A receiver returns how many tokens it ended; the service records the sum as the audit event's
`tokens_revoked`.

    client_disabled(sender=Client, client, now)                the client can no longer authenticate
    scopes_removed(sender=Client, client, removed, now)        `removed`: the scope names taken from the client
    client_tokens_revoked(sender=Client, client, now)          every live token of the client ends (revoke-all,
                                                               rotate --revoke-tokens)
    secret_retired(sender=ClientSecret, secret, now)           one secret ended now, and the tokens it minted
    scope_moved(sender=Client, client, scope, now)             `scope` (a name), held by the client, moved to
                                                               another resource server (or to or from global):
                                                               every live token of the client ends
    key_retired(sender=ClientKey, key, now)                    one private_key_jwt key ended now, and the tokens
                                                               it minted

After any but secret_retired and key_retired the service raises the client's generation as well, which also ends a
token whose INSERT is racing the change.
"""

from collections.abc import Sequence
from typing import Any

from django.dispatch import Signal

client_disabled = Signal()
scopes_removed = Signal()
client_tokens_revoked = Signal()
secret_retired = Signal()
scope_moved = Signal()
key_retired = Signal()


def tokens_ended(responses: Sequence[tuple[Any, Any]]) -> int:
    """The number of tokens the receivers of one send() ended."""
    return sum(count for _, count in responses if isinstance(count, int))
