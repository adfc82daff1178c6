"""Throttling of failed client authentication: back-pressure and alerts that never refuse a valid credential.

The rule that outranks the rest: a caller who knows no valid credential cannot make a client that holds one
fail. So nothing here runs on the success path: every request with a well-formed credential is checked against
the database and a valid one succeeds, whatever was counted against its address or its client id. Only a
FAILED authentication comes here (`record_failure`, called by tokens.views), and it is sorted:

- noise: no credentials, malformed ones (rejected before any lookup) or an unknown client id. Counted per
  address group; past GATEHOUSE_AUTH_NOISE_LIMIT in the window it answers 429 and is no longer logged line by
  line (one line when that starts).
- a failed attempt on a real client id (wrong, expired or retired secret, disabled client). Counted per
  (address group, client id) and per client id. Past GATEHOUSE_AUTH_FAILURE_LIMIT the pair's failures answer
  429 slow_down with Retry-After (a retrying pod or a guesser backs off; one log line when that starts). At
  GATEHOUSE_AUTH_ALERT_THRESHOLD failures from any addresses the client is flagged as under attack, once per
  window: a warning, an audit event, and the `client_under_attack` signal (a metric, the portal dashboard).

An address group is an IPv4 address or an IPv6 /64; an IPv4-mapped IPv6 address is its IPv4 address. Each
counter is a fixed window of GATEHOUSE_AUTH_FAILURE_WINDOW seconds from its first failure, kept where every
worker and instance sees it: the FailureCounter table (default, made by `migrate`) or Redis
(GATEHOUSE_CACHE_URL=redis://..., which fails open and logs when Redis is unreachable). See docs/security.md.

Public surface: `client_address`, `address_group`, `record_failure` (and its `Verdict`), `purge`. The stores below
them are internal.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from django.conf import settings
from django.db import connection

from clients import credentials
from tokens import signals
from tokens.addresses import client_address
from tokens.models import FailureCounter

__all__ = ["Verdict", "address_group", "client_address", "purge", "record_failure"]

log = logging.getLogger("gatehouse.throttle")

# Failures that are no attempt on any real client: nobody holding a valid credential ever produces them.
NOISE_REASONS = frozenset({"missing_credentials", "malformed_credentials", "malformed_secret", "unknown_client"})
PURGE_CHANCE = 0.01  # share of failures that also delete expired counters (database store)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one failed authentication."""

    retry_after: int | None = None  # answer 429 slow_down with this Retry-After instead of 401
    quiet: bool = False  # a block was already in force: count it, but do not log it line by line


def address_group(address: str) -> str:
    """What one party controls: an IPv4 address, or the /64 of an IPv6 one (IPv4-mapped IPv6 counts as IPv4)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def record_failure(*, address: str, client_id: str, reason: str) -> Verdict:
    """Count one failed client authentication (`reason` as in tokens.signals) and say how to answer it.

    A database error propagates (the view retries a dead connection once, then answers 503); an unreachable
    Redis is logged and the failure goes uncounted.
    """
    now = int(time.time())
    window = settings.GATEHOUSE_AUTH_FAILURE_WINDOW
    group = address_group(address)
    counters = store()
    try:
        if reason in NOISE_REASONS or not credentials.is_client_id(client_id):
            (noise,) = counters.hit([f"n|{group}"], window, now)
            verdict = _verdict(noise, settings.GATEHOUSE_AUTH_NOISE_LIMIT, now)
            if noise.hits == settings.GATEHOUSE_AUTH_NOISE_LIMIT + 1:
                log.warning(
                    "throttling credential-less requests address_group=%s failures=%d until=%d; "
                    "further ones are not logged until then",
                    group,
                    noise.hits,
                    noise.expires_at,
                )
                signals.throttled.send(None, kind="noise", address_group=group, client_id="", until=noise.expires_at)
        else:
            pair, per_client = counters.hit([f"p|{client_id}|{group}", f"c|{client_id}"], window, now)
            verdict = _verdict(pair, settings.GATEHOUSE_AUTH_FAILURE_LIMIT, now)
            if pair.hits == settings.GATEHOUSE_AUTH_FAILURE_LIMIT + 1:
                log.warning(
                    "throttling failed authentications client_id=%s address_group=%s failures=%d until=%d",
                    client_id,
                    group,
                    pair.hits,
                    pair.expires_at,
                )
                signals.throttled.send(
                    None, kind="pair", address_group=group, client_id=client_id, until=pair.expires_at
                )
            if per_client.hits == settings.GATEHOUSE_AUTH_ALERT_THRESHOLD:
                _flag(counters, client_id, per_client, window, now)
        if random.random() < PURGE_CHANCE:  # noqa: S311 - housekeeping, not security
            counters.purge(now)
    except StoreUnavailable as exc:
        log.warning("throttle store unavailable; failure not counted: %s", exc)
        return Verdict()
    return verdict


def _verdict(count: Count, limit: int, now: int) -> Verdict:
    if count.hits <= limit:
        return Verdict()
    return Verdict(retry_after=max(1, count.expires_at - now), quiet=count.hits > limit + 1)


def _flag(counters: Store, client_id: str, per_client: Count, window: int, now: int) -> None:
    """A client id failed GATEHOUSE_AUTH_ALERT_THRESHOLD times in a window: say so everywhere, once."""
    from clients.services import client_flag_auth_failures

    groups = counters.live(f"p|{client_id}|", now)
    log.warning(
        "client under attack client_id=%s failures=%d address_groups=%d window=%ds; its valid secrets keep working",
        client_id,
        per_client.hits,
        groups,
        window,
    )
    client_flag_auth_failures(client_id=client_id, failures=per_client.hits, address_groups=groups, window=window)
    signals.client_under_attack.send(
        None, client_id=client_id, failures=per_client.hits, address_groups=groups, until=per_client.expires_at
    )


def purge() -> int:
    """Delete expired counters (the database store; Redis expires its own); how many went."""
    return store().purge(int(time.time()))


# Stores. Each counter is a fixed window: the first hit sets hits=1 and the expiry, later ones add 1.


class Count(NamedTuple):
    hits: int
    expires_at: int  # Unix seconds


class StoreUnavailable(Exception):
    """The store cannot be reached (Redis): the throttle fails open."""


class Store(Protocol):
    def hit(self, names: list[str], window: int, now: int) -> list[Count]: ...
    def live(self, prefix: str, now: int) -> int: ...
    def purge(self, now: int) -> int: ...


_UPSERT = """
INSERT INTO tokens_failurecounter (name, hits, expires_at) VALUES {rows}
ON CONFLICT (name) DO UPDATE SET
  hits = CASE WHEN tokens_failurecounter.expires_at <= %s THEN 1 ELSE tokens_failurecounter.hits + 1 END,
  expires_at = CASE WHEN tokens_failurecounter.expires_at <= %s THEN excluded.expires_at
                    ELSE tokens_failurecounter.expires_at END
RETURNING name, hits, expires_at
"""


class DatabaseStore:
    """Counters in the FailureCounter table: one upsert statement per failure, the same SQL on PostgreSQL
    and SQLite. Rows are never culled while in force."""

    def hit(self, names: list[str], window: int, now: int) -> list[Count]:
        # Sorted, so that two requests upserting the same rows lock them in the same order (no deadlock).
        ordered = sorted(names)
        params: list[str | int] = []
        for name in ordered:
            params += [name, now + window]
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT.format(rows=", ".join(["(%s, 1, %s)"] * len(ordered))), [*params, now, now])
            found = {name: Count(hits, expires_at) for name, hits, expires_at in cursor.fetchall()}
        return [found[name] for name in names]

    def live(self, prefix: str, now: int) -> int:
        return FailureCounter.objects.filter(name__startswith=prefix, expires_at__gt=now).count()

    def purge(self, now: int) -> int:
        deleted, _ = FailureCounter.objects.filter(expires_at__lte=now).delete()
        return deleted


class RedisStore:
    """Counters in Redis: SET NX EX + INCR + TTL in one round trip, with short socket timeouts."""

    PREFIX = "gatehouse:throttle:"

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self.errors: tuple[type[Exception], ...] = (redis.RedisError,)

    def hit(self, names: list[str], window: int, now: int) -> list[Count]:
        try:
            pipe = self.redis.pipeline(transaction=True)
            for name in names:
                key = self.PREFIX + name
                pipe.set(key, 0, ex=window, nx=True)
                pipe.incr(key)
                pipe.ttl(key)
            replies = pipe.execute()
        except self.errors as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from None
        return [Count(int(replies[3 * i + 1]), now + max(1, int(replies[3 * i + 2]))) for i in range(len(names))]

    def live(self, prefix: str, now: int) -> int:
        # SCAN walks the keyspace: fine once per flagged client and window, never on a hot path.
        try:
            return sum(1 for _ in self.redis.scan_iter(match=self.PREFIX + prefix + "*", count=1000))
        except self.errors as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from None

    def purge(self, now: int) -> int:
        return 0  # keys carry their own expiry


_stores: dict[str, Store] = {}


def store() -> Store:
    """The store GATEHOUSE_THROTTLE_STORE names: `database`, or a Redis URL."""
    where = settings.GATEHOUSE_THROTTLE_STORE
    if where not in _stores:
        _stores[where] = DatabaseStore() if where == "database" else RedisStore(where)
    return _stores[where]
