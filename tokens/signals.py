"""Signals the OAuth endpoints send, for metrics and alerting (e.g. a Prometheus counter of failed logins).

    auth_failed(sender=<view class>, endpoint, client_id, address, reason)
        one failed client authentication; `client_id` is the presented id if it has a client id's shape, else
        "(malformed)"; `reason` one of unknown_client, wrong_secret, expired_secret, disabled_client,
        malformed_secret, malformed_credentials, missing_credentials, changed during the request.
    address_blocked(sender=<view class>, address, failures, until)
        an address reached the failure limit and gets 429 until `until` (Unix seconds).

Neither carries a secret.
"""

from django.dispatch import Signal

auth_failed = Signal()
address_blocked = Signal()
