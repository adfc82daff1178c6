"""Where a request comes from: the one proxy-aware client address, and the one IP-in-network test.

The throttle, the admin lockout (django-axes), the access log and the audit trail all name a caller by
client_address(); /metrics and the trusted-proxy check ask address_in().
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_in(address: str, networks: Iterable[Network]) -> bool:
    """Whether `address` is an IP address inside one of `networks` (anything else is not)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """The socket's address, or the client's as reported by X-Forwarded-For when the socket is a trusted proxy.

    X-Forwarded-For is read from the right, skipping trusted proxies: the first address not trusted is the
    client (entries further left could be forged by the client itself).
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.GATEHOUSE_TRUSTED_PROXIES
    if not proxies or not address_in(remote, proxies):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    client = remote
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage from a client: keep the last address a trusted proxy vouched for
        client = hop
        if not address_in(hop, proxies):
            break
    return client
