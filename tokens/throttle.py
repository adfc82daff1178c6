"""Throttling of failed client authentication by source address, shared by every worker and instance.

Failures are counted in Django's cache (Redis or the database cache table in production, see
docs/security.md): after GATEHOUSE_AUTH_FAILURE_LIMIT failures from one address within
GATEHOUSE_AUTH_FAILURE_WINDOW seconds of the first, the address is blocked until that window ends.

The check runs on every request to the token, introspection and revocation endpoints, so it is kept off the
shared store on the hot path: each process remembers the blocks it has learned and, per address, that the
shared store showed no block, for GATEHOUSE_AUTH_BLOCK_SYNC_SECONDS. A block set by another process is
therefore seen within that many seconds, or at once on this process's next failure from the address (every
failure reads the shared counter). See docs/decisions.md.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError
from django.http import HttpRequest

log = logging.getLogger("gatehouse.throttle")

_KEY = "gatehouse:authfail:"
# Per process: address -> Unix time its block ends; address -> Unix time until which "not blocked" is trusted.
_blocked_until: dict[str, float] = {}
_clear_until: dict[str, float] = {}
_MAX_REMEMBERED = 10_000


class Blocked(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def client_address(request: HttpRequest) -> str:
    """The socket's address, or the client's as reported by X-Forwarded-For when the socket is a trusted proxy.

    X-Forwarded-For is read from the right, skipping trusted proxies: the first address not trusted is the
    client (entries further left could be forged by the client itself).
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.GATEHOUSE_TRUSTED_PROXIES
    if not proxies or not _is_trusted(remote, proxies):
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
        if not _is_trusted(hop, proxies):
            break
    return client


def _is_trusted(address: str, proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def _cache():  # type: ignore[no-untyped-def]
    return caches[settings.GATEHOUSE_THROTTLE_CACHE]


def check(address: str) -> None:
    """Raise Blocked if the address is blocked. Usually two dict lookups; the shared store at most once per
    GATEHOUSE_AUTH_BLOCK_SYNC_SECONDS per address and process."""
    now = time.time()
    until = _blocked_until.get(address)
    if until is not None:
        if until > now:
            raise Blocked(math.ceil(until - now))
        del _blocked_until[address]
    if _clear_until.get(address, 0.0) > now:
        return
    try:
        until = _cache().get(_KEY + "block:" + address)
    except DatabaseError:
        raise  # the database cache: the request needs the database anyway, answer 503 now rather than retry
    except Exception:  # noqa: BLE001 - Redis being down must not take the endpoints down
        log.warning("throttle store unavailable; not checking blocks for a while", exc_info=False)
        until = None
    if until is not None and until > now:
        _remember(_blocked_until, address, until)
        raise Blocked(math.ceil(until - now))
    _remember(_clear_until, address, now + settings.GATEHOUSE_AUTH_BLOCK_SYNC_SECONDS)


def record_failure(address: str) -> tuple[int, float | None]:
    """Count one failed authentication from `address`; returns (failures in the window, block end or None)."""
    now = time.time()
    window = settings.GATEHOUSE_AUTH_FAILURE_WINDOW
    cache = _cache()
    try:
        # The window starts at the first failure: its start and the count expire together.
        cache.add(_KEY + "start:" + address, now, timeout=window)
        cache.add(_KEY + "count:" + address, 0, timeout=window)
        failures = cache.incr(_KEY + "count:" + address)
        if failures < settings.GATEHOUSE_AUTH_FAILURE_LIMIT:
            return failures, None
        start = cache.get(_KEY + "start:" + address) or now
        until = start + window
        cache.set(_KEY + "block:" + address, until, timeout=max(1, math.ceil(until - now)))
    except ValueError:  # the count expired between add and incr: the window is over
        return 0, None
    except Exception:  # noqa: BLE001
        log.warning("throttle store unavailable; failure from %s not counted", address)
        return 0, None
    _remember(_blocked_until, address, until)
    return failures, until


def _remember(memo: dict[str, float], address: str, until: float) -> None:
    if len(memo) >= _MAX_REMEMBERED:
        memo.clear()
    memo[address] = until


def forget_all() -> None:
    """Drop this process's memory of blocks (tests; the shared store is cleared separately)."""
    _blocked_until.clear()
    _clear_until.clear()
