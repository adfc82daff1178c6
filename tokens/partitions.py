"""The access-token table on PostgreSQL: range-partitioned by expiry, one partition per UTC day, purged by dropping.

    tokens_accesstoken                 partitioned by RANGE (expires_at), Unix seconds
      tokens_accesstoken_p20261129     FOR VALUES FROM (day start) TO (next day start)
      tokens_accesstoken_legacy        the table as it was before partitioning (migration 0008), FROM (MINVALUE)
      tokens_accesstoken_default       DEFAULT: a row no day partition covers (purge not run for days, a clock
                                       far off) still goes in; it is purged row by row

`ensure` creates the day partitions a token issued now may need, and `AHEAD_DAYS` more; `tokens purge` calls it on
every run. `drop_expired` folds each partition whose every token has expired into the issuance counters and drops
it, in one transaction: the tokens are in their rows or in the counters, never both and never neither. The
partition is detached with a short lock_timeout (detaching takes an ACCESS EXCLUSIVE lock on the parent for the
milliseconds the catalog change takes); a purge that cannot get it gives up on that partition until its next run.
DETACH ... CONCURRENTLY would not need that lock but PostgreSQL refuses it while a default partition exists, and the
default partition is what guarantees that issuing a token never fails for want of a partition (docs/decisions.md).

Token lookups bound `expires_at` on both sides (tokens.models.LIVE_TOKEN_SQL), so PostgreSQL prunes to the one or
two partitions that can hold a live token. SQLite keeps the plain table; nothing here runs there.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DatabaseError, connection, transaction

from clients.limits import MAX_TOKEN_TTL

logger = logging.getLogger("gatehouse.tokens")

PARENT = "tokens_accesstoken"
DEFAULT = "tokens_accesstoken_default"
LEGACY = "tokens_accesstoken_legacy"
DAY = 86400
# A token read by an instance whose clock is behind the issuing one's by up to this much is still found: lookups
# bound `expires_at` by now + MAX_TOKEN_TTL + CLOCK_SKEW.
CLOCK_SKEW = 3600
AHEAD_DAYS = 1  # day partitions kept ready beyond the last one a token issued now can need (few: see decisions)
LOCK_TIMEOUT_MS = 200  # waiting this long for the parent's lock to detach or create a partition, then retrying
DETACH_ATTEMPTS = 5
# The fold reads a dropped partition in chunks of this many ids and rests between chunks, so that it takes at most
# FOLD_DUTY of one core while tokens are being issued: a purge is housekeeping and yields to the hot path.
FOLD_CHUNK = 20000
FOLD_DUTY = 0.1

_BOUND = re.compile(r"FROM \((MINVALUE|'?-?\d+'?)\) TO \((MAXVALUE|'?-?\d+'?)\)")


@dataclass(frozen=True)
class Partition:
    name: str
    low: int | None  # None: MINVALUE
    high: int | None  # None: MAXVALUE; both None: the default partition

    @property
    def is_default(self) -> bool:
        return self.low is None and self.high is None


# (client_id, secret_id, key_id, hour, n, last issued_at): what `AccessTokenManager.fold_counts` takes.
Counts = list[tuple[int, int | None, int | None, int, int, int]]


def sqlstate(error: BaseException) -> str | None:
    """PostgreSQL's error code of a database error (Django keeps psycopg's error as the cause)."""
    return getattr(error, "sqlstate", None) or getattr(error.__cause__, "sqlstate", None)


def horizon(epoch: int) -> int:
    """The latest expiry a token live at `epoch` can have: the upper bound of every live-token lookup."""
    return epoch + MAX_TOKEN_TTL + CLOCK_SKEW


def day_start(epoch: int) -> int:
    return epoch - epoch % DAY


def day_name(start: int) -> str:
    return f"{PARENT}_p{datetime.fromtimestamp(start, tz=UTC):%Y%m%d}"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            " WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace)",
            [PARENT],
        )
        return bool(cursor.fetchone()[0])


def _bound(text: str) -> int | None:
    return None if text in ("MINVALUE", "MAXVALUE") else int(text.strip("'"))


def partitions() -> list[Partition]:
    """The token table's partitions, by their lower bound (the default partition last)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound)
        found.append(Partition(name, None, None) if match is None else Partition(name, *map(_bound, match.groups())))
    return sorted(found, key=lambda p: (p.is_default, -(2**63) if p.low is None else p.low))


def ensure(epoch: int, *, ahead: int = AHEAD_DAYS) -> list[str]:
    """Create the day partitions a token issued at `epoch` (or in the next `ahead` days) goes into; returns their
    names. Partitions only ever extend forward, from the last one's end (or today, if that is past): a day whose
    tokens went to the default partition meanwhile keeps them there, and they are purged row by row."""
    ends = [p.high for p in partitions() if not p.is_default and p.high is not None]
    created = []
    for day in range(max([day_start(epoch), *ends]), day_start(horizon(epoch)) + ahead * DAY + 1, DAY):
        name = day_name(day)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
                cursor.execute(f'CREATE TABLE "{name}" PARTITION OF {PARENT} FOR VALUES FROM ({day}) TO ({day + DAY})')
        except DatabaseError as error:
            # Issuing tokens goes on either way: the default partition takes what no day partition covers.
            logger.warning("token partition %s not created: %s", name, sqlstate(error) or error)
            if sqlstate(error) == "23514":  # the default partition holds tokens of that day: they stay there
                continue
            break  # 55P03, the lock was not free in time: the next run goes on from here
        created.append(name)
    return created


def covered_until() -> int:
    """The end of the last day partition (Unix seconds); 0 if there is none."""
    return max((p.high for p in partitions() if not p.is_default and p.high is not None), default=0)


def expired(epoch: int) -> list[Partition]:
    """Partitions whose every token expired at or before `epoch` (their upper bound is not after it)."""
    return [p for p in partitions() if not p.is_default and p.high is not None and p.high <= epoch]


_COUNTS_SQL = (
    'SELECT client_id, secret_id, key_id, issued_at - issued_at %% 3600, count(*), max(issued_at) FROM "{name}"'
    " WHERE id >= %s AND id < %s GROUP BY 1, 2, 3, 4"
)


def counts(name: str, *, chunk: int = FOLD_CHUNK, duty: float = FOLD_DUTY) -> Counts:
    """The issuance counts of partition `name`, read `chunk` ids at a time, resting between chunks so that the
    reading takes `duty` of the time (1: no rest)."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT min(id), max(id) FROM "{name}"')
        low, high = cursor.fetchone()
        if low is None:
            return []
        sums: dict[tuple[int, int | None, int | None, int], list[int]] = {}
        for start in range(low, high + 1, chunk):
            began = time.monotonic()
            cursor.execute(_COUNTS_SQL.format(name=name), [start, start + chunk])
            for client_pk, secret_pk, key_pk, hour, n, last in cursor.fetchall():
                total = sums.setdefault((client_pk, secret_pk, key_pk, hour), [0, last])
                total[0] += n
                total[1] = max(total[1], last)
            if duty < 1:
                time.sleep((time.monotonic() - began) * (1 - duty) / duty)
    return [(*key, n, last) for key, (n, last) in sums.items()]


def drop(partition: Partition, fold: Callable[[Counts], None], *, duty: float = FOLD_DUTY) -> int | None:
    """Fold the partition's tokens into the counters, detach it and drop it, in one transaction; returns how many
    tokens it held, or None if the parent's lock could not be had (nothing changed; the next purge tries again)."""
    name = partition.name
    started = time.monotonic()
    logger.info("token partition %s: folding and dropping", name)
    with transaction.atomic(), connection.cursor() as cursor:
        rows = counts(name, duty=duty)
        fold(rows)
        cursor.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
        for attempt in range(DETACH_ATTEMPTS):
            try:
                with transaction.atomic():
                    cursor.execute(f'ALTER TABLE {PARENT} DETACH PARTITION "{name}"')
                break
            except DatabaseError as error:
                if sqlstate(error) != "55P03":  # lock_not_available
                    raise
                time.sleep(0.05 * 2**attempt)
        else:
            transaction.set_rollback(True)
            logger.warning("token partition %s not dropped: its table was busy; the next purge tries again", name)
            return None
        # Foreign-key checks still deferred for rows of this transaction (only ever in tests) would refuse the drop.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'DROP TABLE "{name}"')
    total = sum(row[4] for row in rows)
    logger.info("token partition %s dropped: %d tokens folded in %.1f s", name, total, time.monotonic() - started)
    return total


def default_expired_ids(epoch: int, limit: int) -> list[int]:
    """Up to `limit` ids of expired tokens in the default partition (purged row by row)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {DEFAULT} WHERE expires_at <= %s LIMIT %s", [epoch, limit])
        return [row[0] for row in cursor.fetchall()]
