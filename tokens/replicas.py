"""Introspection on PostgreSQL read replicas, never answering a stale "active" nor a false "inactive".

Readers (each process): introspection runs its one SELECT on a replica whose shared state (tokens_replicastate, on
the primary) was "in" when this process last read it, at most GATEHOUSE_REPLICA_REFRESH_MS ago; anything but an
active token is asked again of the primary, and a replica that fails is left for the primary at once. Each refresh
also measures every replica and takes one that lags, has paused replay or cannot be reached out of service for all.

Writers: after the commit of anything that reduces authority (every registry change records an AuditEvent, and the
RFC 7009 endpoint), `wait_for_replicas` waits until every replica "in" or "joining" has replayed the primary's WAL
position read after the commit; one that does not within GATEHOUSE_REPLICA_WAIT_MS is taken out, and the writer
then waits out the lease (2 x refresh) so that no reader still trusts its old "in". A replica comes back in two
steps, out -> joining -> in, the second only once it has replayed a position read after "joining" was committed:
any writer that skipped it while it was out committed before that. docs/replicas.md has the operator's side.

Nothing here runs when DATABASE_REPLICA_URLS is unset: `ALIASES` is empty and every entry point returns at once.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone
from prometheus_client import Counter

log = logging.getLogger("gatehouse.replicas")

IN, JOINING, OUT = "in", "joining", "out"
# A process probes a replica it could not reach again after 5 s, then 10, 20, up to 60 (a black-holed host costs
# the request that probes it up to DATABASE_CONNECT_TIMEOUT, so not every refresh pays it).
UNREACHABLE_RETRY, UNREACHABLE_RETRY_MAX = 5.0, 60.0
_sleep = time.sleep  # the writer's lease (tests record it)

READS = Counter(
    "gatehouse_replica_reads",
    "Introspections with replicas configured, by who answered: replica (an active token read on a replica),"
    " rechecked (the replica had no active token, the primary was asked) or primary (no replica in service).",
    ["source"],
)
_reads = {source: READS.labels(source) for source in ("replica", "rechecked", "primary")}


def configured_aliases() -> tuple[str, ...]:
    """The database aliases config/settings.py made from DATABASE_REPLICA_URLS."""
    return tuple(alias for alias in settings.DATABASES if alias.startswith("replica_"))


# The one check the introspection path makes: empty unless DATABASE_REPLICA_URLS is set.
ALIASES: tuple[str, ...] = configured_aliases()


@dataclass
class Replica:
    alias: str
    name: str  # host:port, the row's name in tokens_replicastate (the same for every instance)
    state: str = OUT  # as this process last read (or decided) it; only "in" is read from
    lag: float | None = None  # seconds, as this process last measured it; None: unknown
    reason: str = ""
    retry_at: float = 0.0  # monotonic: while unreachable, not probed again before this
    unreachable: int = 0  # probes in a row that could not reach it


class _Cache:
    def __init__(self) -> None:
        self.replicas: list[Replica] = []
        self.read_at = float("-inf")  # monotonic time the last successful refresh started
        self.turn = itertools.count()


_cache = _Cache()
UNAVAILABLE: Any = object()  # what `fetchone` returns when no replica answered


def label(alias: str) -> str:
    s = connections.settings[alias]
    return f"{s.get('HOST') or 'localhost'}:{s.get('PORT') or 5432}"


def configure(aliases: Iterable[str]) -> None:
    """Use these aliases as the replicas (settings do it at start-up; tests that add an alias do it again)."""
    global ALIASES
    ALIASES = tuple(aliases)
    _cache.replicas = [Replica(alias, label(alias)) for alias in ALIASES]
    _cache.read_at = float("-inf")


def _refresh_seconds() -> float:
    return settings.GATEHOUSE_REPLICA_REFRESH_MS / 1000


# --- readers --------------------------------------------------------------------------------------------------------


def _pick() -> Replica | None:
    """An in-service replica, round robin, or None; refreshes the shared state first when this process's is stale."""
    if time.monotonic() - _cache.read_at > _refresh_seconds():
        refresh()
    usable = [replica for replica in _cache.replicas if replica.state == IN]
    # Fresh or nothing: a refresh that failed (the primary unreachable) leaves the old reading, which must not count.
    if not usable or time.monotonic() - _cache.read_at > _refresh_seconds():
        return None
    return usable[next(_cache.turn) % len(usable)]


def fetchone(sql: str, params: Any) -> Any:
    """Run one SELECT on an in-service replica: its row (or None), or UNAVAILABLE if no replica could answer."""
    replica = _pick()
    if replica is None:
        return UNAVAILABLE
    try:
        with connections[replica.alias].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    except DatabaseError as error:
        # Never a 5xx for a replica: the primary answers. The next refresh probes it and takes it out for everyone.
        connections[replica.alias].close()
        replica.state, replica.reason = OUT, f"read failed: {type(error).__name__}"
        log.warning("replica %s failed a read (%s); answering from the primary", replica.name, type(error).__name__)
        return UNAVAILABLE


def answered(source: str) -> None:
    """Count who answered an introspection: replica, rechecked or primary (READS)."""
    _reads[source].inc()


# --- the shared state -----------------------------------------------------------------------------------------------

_STATE_SQL = (
    "SELECT w.lsn::text, r.name, r.state FROM (SELECT pg_current_wal_lsn() AS lsn) w"
    " LEFT JOIN tokens_replicastate r ON true"
)
# On the replica: is it one, has it replayed the primary's position, is replay paused, how old is its last transaction.
_PROBE_SQL = (
    "SELECT s.standby, CASE WHEN s.standby THEN pg_last_wal_replay_lsn() >= %s::pg_lsn END,"
    " CASE WHEN s.standby THEN pg_is_wal_replay_paused() END,"
    " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"
    " FROM (SELECT pg_is_in_recovery() AS standby) s"
)
_APPLIED_SQL = "SELECT COALESCE(pg_last_wal_replay_lsn() >= %s::pg_lsn, false)"
_JOIN_SQL = (
    "INSERT INTO tokens_replicastate (name, state, changed_at, reason, lag) VALUES (%s, 'joining', %s, 'new', NULL)"
    " ON CONFLICT (name) DO NOTHING"
)


@dataclass(frozen=True)
class Probe:
    healthy: bool
    caught_up: bool  # replayed the primary's position read just before
    lag: float | None
    reason: str = ""


def probe(replica: Replica, primary_lsn: str) -> Probe:
    """Measure one replica against the primary's WAL position `primary_lsn`."""
    try:
        with connections[replica.alias].cursor() as cursor:
            cursor.execute(_PROBE_SQL, [primary_lsn])
            standby, caught_up, paused, behind = cursor.fetchone()
            if standby and not caught_up and not paused and (behind is None or behind > _max_lag()):
                # An idle primary's last WAL record may be a checkpoint, not a transaction: the replay timestamp is
                # then old without the replica being behind. Look again once before calling it lagging.
                time.sleep(0.02)
                cursor.execute(_PROBE_SQL, [primary_lsn])
                standby, caught_up, paused, behind = cursor.fetchone()
    except DatabaseError as error:
        connections[replica.alias].close()
        return Probe(False, False, None, f"unreachable: {type(error).__name__}")
    if not standby:
        return Probe(False, False, None, "not a standby (promoted?)")
    lag = 0.0 if caught_up else (None if behind is None else max(0.0, float(behind)))
    if paused:
        return Probe(False, bool(caught_up), lag, "replay paused")
    if lag is None or lag > _max_lag():
        return Probe(False, False, lag, "lag unknown" if lag is None else f"lag {lag:.1f}s")
    return Probe(True, bool(caught_up), lag)


def _max_lag() -> float:
    return float(settings.GATEHOUSE_REPLICA_MAX_LAG_SECONDS)


def set_state(name: str, state: str, *, reason: str, lag: float | None, only_from: tuple[str, ...]) -> bool:
    """Move a replica's shared state to `state` if it is one of `only_from` now; whether it moved."""
    marks = ", ".join(["%s"] * len(only_from))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tokens_replicastate SET state = %s, reason = %s, lag = %s, changed_at = %s"
            f" WHERE name = %s AND state IN ({marks})",
            [state, reason[:200], lag, timezone.now(), name, *only_from],
        )
        moved = cursor.rowcount == 1
    if moved:
        log.warning("replica %s is now %s (%s)", name, state, reason)
    return moved


def refresh() -> None:
    """Read the shared state from the primary, measure each replica, and move states as measured (module docstring).

    The primary unreachable: the reading stays stale, so no replica is used, and the primary path reports the outage.
    """
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute(_STATE_SQL)
            rows = cursor.fetchall()
        lsn = rows[0][0]
        shared = {name: state for _, name, state in rows if name is not None}
        for replica in _cache.replicas:
            replica.state = _measure(replica, shared.get(replica.name), lsn, started)
    except DatabaseError as error:
        log.warning("could not read the replicas' state from the primary (%s)", type(error).__name__)
        return
    _cache.read_at = started


def _measure(replica: Replica, state: str | None, lsn: str, now: float) -> str:
    """The state this process may use `replica` in until the next refresh, moving the shared one as measured."""
    if state is None:
        with connection.cursor() as cursor:
            cursor.execute(_JOIN_SQL, [replica.name, timezone.now()])
        return OUT  # whatever is in the table now, it is read at the next refresh
    if now < replica.retry_at:
        return OUT
    measured = probe(replica, lsn)
    replica.lag, replica.reason = measured.lag, measured.reason
    if not measured.reason.startswith("unreachable"):
        replica.unreachable = 0
    if not measured.healthy:
        if measured.reason.startswith("unreachable"):
            replica.retry_at = now + min(UNREACHABLE_RETRY * 2**replica.unreachable, UNREACHABLE_RETRY_MAX)
            replica.unreachable += 1
        if state != OUT:
            set_state(replica.name, OUT, reason=measured.reason, lag=measured.lag, only_from=(IN, JOINING))
        return OUT
    if state == OUT:
        set_state(replica.name, JOINING, reason="healthy again", lag=measured.lag, only_from=(OUT,))
        return OUT
    if state == JOINING:
        # "joining" was committed before the statement that read it and `lsn`: a writer that skipped this replica
        # while it was out committed before that, so a replica that has replayed `lsn` has its write too.
        if measured.caught_up and set_state(replica.name, IN, reason="caught up", lag=0.0, only_from=(JOINING,)):
            return IN
        return JOINING
    return IN


def status() -> list[Replica]:
    """This process's view of the replicas, refreshed if stale (for /readyz and /metrics)."""
    if ALIASES and time.monotonic() - _cache.read_at > _refresh_seconds():
        refresh()
    return list(_cache.replicas)


# --- writers --------------------------------------------------------------------------------------------------------

_WRITER_SQL = (
    "SELECT w.lsn::text, r.name FROM (SELECT pg_current_wal_lsn() AS lsn) w"
    " LEFT JOIN tokens_replicastate r ON r.state IN ('in', 'joining')"
)


def after_commit() -> None:
    """Make the current transaction wait for the replicas once it commits (at once outside a transaction)."""
    if ALIASES:
        transaction.on_commit(_wait)


def _wait() -> None:
    wait_for_replicas()  # looked up when it runs, so tests can record the waits


def wait_for_replicas() -> None:
    """Return once every replica that may answer introspection has applied what the primary has committed so far.

    A replica that does not within GATEHOUSE_REPLICA_WAIT_MS is taken out, then the lease is waited out: every
    process's reading of it as "in" is older than the refresh interval by then. At most WAIT + 2 x REFRESH.
    """
    if not ALIASES:
        return
    deadline = time.monotonic() + settings.GATEHOUSE_REPLICA_WAIT_MS / 1000
    try:
        lsn, names = _in_use()
    except DatabaseError as error:
        # Readers cannot refresh from a primary that is gone either, so they stop using replicas within the lease.
        log.warning("could not read the replicas' state after a write (%s)", type(error).__name__)
        _sleep(2 * _refresh_seconds())
        return
    known = {replica.name: replica for replica in _cache.replicas}
    late = [name for name in names if not _applied(known.get(name), lsn, deadline)]
    if not late:
        return
    for name in late:
        try:
            set_state(name, OUT, reason="did not apply a write in time", lag=None, only_from=(IN, JOINING))
        except DatabaseError as error:
            log.warning("could not take replica %s out (%s)", name, type(error).__name__)
        if name in known:
            known[name].state = OUT
    _sleep(2 * _refresh_seconds())


def _in_use() -> tuple[str, list[str]]:
    """The primary's WAL position now, and the replicas a reader may be using or about to use ("in", "joining")."""
    with connection.cursor() as cursor:
        cursor.execute(_WRITER_SQL)
        rows = cursor.fetchall()
    return rows[0][0], [name for _, name in rows if name is not None]


def _applied(replica: Replica | None, lsn: str, deadline: float) -> bool:
    """Poll the replica until it has replayed `lsn` (True) or the deadline passes (False)."""
    if replica is None:
        return False  # a replica this process does not know (instances configured differently): cannot check it
    delay = 0.002
    try:
        with connections[replica.alias].cursor() as cursor:
            while True:
                cursor.execute(_APPLIED_SQL, [lsn])
                if cursor.fetchone()[0]:
                    return True
                if time.monotonic() + delay > deadline:
                    return False
                time.sleep(delay)
                delay = min(delay * 1.5, 0.01)
    except DatabaseError:
        connections[replica.alias].close()
        return False


if ALIASES:
    configure(ALIASES)
