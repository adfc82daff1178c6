"""Signals the OAuth endpoints send, for metrics and alerting (e.g. a Prometheus counter of failed logins).

    auth_failed(sender=<view class>, endpoint, client_id, address, reason)
        one failed client authentication; `client_id` is the presented id if it has a client id's shape, else
        "(malformed)"; `reason` one of unknown_client, wrong_secret, expired_secret, disabled_client,
        malformed_secret, malformed_credentials, missing_credentials, changed during the request.
    throttled(sender=None, kind, address_group, client_id, until)
        failures started to answer 429 until `until` (Unix seconds): kind "noise" (credential-less or malformed
        requests from an address group, client_id "") or "pair" (failed attempts on one client id from one
        address group). Sent once per block.
    client_under_attack(sender=None, client_id, failures, address_groups, until)
        a client id reached GATEHOUSE_AUTH_ALERT_THRESHOLD failures within the window, from `address_groups`
        distinct address groups. Sent once per window. Its valid secrets keep working.

None carries a secret.
"""

from django.dispatch import Signal

auth_failed = Signal()
throttled = Signal()
client_under_attack = Signal()
