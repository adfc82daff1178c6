"""The token table on PostgreSQL: partitioned by expiry, looked up in the partitions that can hold a live token,
purged by dropping whole partitions (tokens/partitions.py), and partitioned in place on a live database
(tokens migration 0008)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import time_machine
from django.db import connection

from clients import credentials
from tests.factories import AccessTokenFactory, ClientFactory
from tests.live import ROOT, command_env, current_database_url, manage
from tokens import partitions
from tokens.models import _BEARER_SQL, AccessToken, IssuanceCount, live_params
from tokens.partitions import DAY

pytestmark = pytest.mark.skipif(
    "postgresql" not in __import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"],
    reason="the token table is partitioned on PostgreSQL only",
)


def names() -> list[str]:
    return [p.name for p in partitions.partitions()]


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@pytest.mark.django_db
def test_a_new_database_has_a_default_partition_and_day_partitions_ahead():
    now = int(time.time())
    found = partitions.partitions()
    assert found[-1].name == partitions.DEFAULT and found[-1].is_default
    days = [p for p in found if not p.is_default]
    assert all(p.high - p.low == DAY and p.low % DAY == 0 for p in days)
    assert days[-1].high > partitions.horizon(now) + partitions.AHEAD_DAYS * DAY - DAY


@pytest.mark.django_db
def test_a_live_token_lookup_reads_only_the_partitions_that_can_hold_a_live_token():
    now = int(time.time())
    partitions.ensure(now)
    params = [credentials.digest("gth_at_x"), *live_params(at(now))]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + _BEARER_SQL, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    read = {name for name in names() if f" {name} " in plan}
    could_hold = {
        p.name
        for p in partitions.partitions()
        if p.is_default or ((p.low is None or p.low <= partitions.horizon(now)) and (p.high is None or p.high > now))
    }
    assert read and read <= could_hold
    assert len(read - {partitions.DEFAULT}) <= 2  # today's and tomorrow's, at most


@pytest.mark.django_db
def test_ensure_extends_forward_and_skips_a_day_whose_tokens_are_in_the_default_partition():
    last = max(p.high for p in partitions.partitions() if not p.is_default)
    # A token expiring two days past the last partition went to the default partition.
    stray = AccessTokenFactory(issued_at=last + 2 * DAY - 100, expires_at=last + 2 * DAY + 10)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {partitions.PARENT} WHERE id = %s", [stray.pk])
        assert cursor.fetchone()[0] == partitions.DEFAULT
    created = partitions.ensure(last, ahead=2)
    assert partitions.day_name(last) in created
    assert partitions.day_name(last + 2 * DAY) not in created  # its token stays in the default partition
    assert partitions.day_name(last + 3 * DAY) in created
    assert partitions.ensure(last, ahead=2) == []  # nothing twice
    assert AccessToken.objects.filter(pk=stray.pk).exists()


@pytest.mark.django_db
def test_purge_drops_ended_partitions_whole_folding_their_counts_and_deletes_the_rest_row_by_row():
    now = int(time.time())
    client = ClientFactory()
    secret = client.secrets.get()
    day = min(p.low for p in partitions.partitions() if not p.is_default and p.low is not None)
    # Three tokens in one day partition, issued in one hour; one of them revoked.
    hour = day - day % 3600 + 3600
    for i in range(3):
        AccessTokenFactory(client=client, secret=secret, issued_at=hour + i, expires_at=day + 3600 + i, revoked_at=None)
    # Expired long ago: the default partition; and one far in the future: live all along.
    old = AccessTokenFactory(client=client, secret=secret, issued_at=1000, expires_at=2000)
    keep = AccessTokenFactory(client=client, secret=secret, issued_at=now, expires_at=day + 5 * DAY)
    dropped = partitions.day_name(day)
    assert dropped in names()
    with time_machine.travel(at(day + DAY + 60), tick=False):
        purged = AccessToken.objects.purge(now=at(day + DAY + 60), fold_duty=1)
    assert purged == 4
    assert dropped not in names()
    assert list(AccessToken.objects.values_list("pk", flat=True)) == [keep.pk]
    counts = dict(IssuanceCount.objects.filter(secret=secret).values_list("hour", "count"))
    assert counts == {hour: 3, 0: 1}
    secret.refresh_from_db()
    assert int(secret.last_used_at.timestamp()) == hour + 2
    assert AccessToken.objects.filter(pk=old.pk).count() == 0


@pytest.mark.django_db
def test_a_revoked_token_in_a_live_partition_is_deleted_and_counted():
    client = ClientFactory()
    now = int(time.time())
    token = AccessTokenFactory(client=client, issued_at=now, expires_at=now + 3600, revoked_at=now)
    assert AccessToken.objects.purge(now=at(now + 1)) == 1
    assert not AccessToken.objects.filter(pk=token.pk).exists()
    assert sum(IssuanceCount.objects.filter(client=client).values_list("count", flat=True)) == 1


@pytest.mark.django_db
def test_a_purge_that_cannot_get_the_lock_changes_nothing_and_the_next_one_drops_it(monkeypatch):
    monkeypatch.setattr(partitions, "DETACH_ATTEMPTS", 2)
    client = ClientFactory()
    day = min(p.low for p in partitions.partitions() if not p.is_default and p.low is not None)
    AccessTokenFactory(client=client, issued_at=day, expires_at=day + 60)
    s = connection.settings_dict
    holder = psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], dbname=s["NAME"])
    try:
        # A long reader of the table (here: a transaction holding its lock) keeps the detach waiting.
        holder.execute(f"LOCK TABLE {partitions.PARENT} IN ACCESS SHARE MODE")
        later = at(day + DAY + 1)
        started = time.monotonic()
        assert AccessToken.objects.purge(now=later, fold_duty=1) == 0
        assert time.monotonic() - started < 3
        assert partitions.day_name(day) in names()
        assert not IssuanceCount.objects.exists()  # the fold rolled back with it: counted in the row, once
    finally:
        holder.rollback()
        holder.close()
    assert AccessToken.objects.purge(now=later, fold_duty=1) == 1
    assert partitions.day_name(day) not in names()
    assert IssuanceCount.objects.get(client=client).count == 1


def test_the_fold_rests_between_chunks_at_its_duty(monkeypatch):
    slept = []
    monkeypatch.setattr(partitions.time, "sleep", slept.append)
    ticks = iter([0.0, 0.1, 1.0, 1.1])
    monkeypatch.setattr(partitions.time, "monotonic", lambda: next(ticks))

    class Cursor:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql, params=None):
            self.sql = sql

        def fetchone(self):
            return (1, 2)  # min and max id: two chunks of one id

        def fetchall(self):
            return [(1, 1, None, 0, 1, 5)]

    monkeypatch.setattr(partitions.connection, "cursor", Cursor)
    assert partitions.counts("p", chunk=1, duty=0.25) == [(1, 1, None, 0, 2, 5)]
    assert slept == pytest.approx([0.3, 0.3])


@pytest.mark.slow
def test_migrating_a_live_table_keeps_every_token_and_never_refuses_an_insert():
    """Tokens issued before, during and after the migration to the partitioned table are all there, each once,
    with the ids going on; the rows from before stay where they were (the legacy partition), not copied."""
    with database_at_0007() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            manage(url, "client", "create", "legacy")
            (client_pk,) = conn.execute("SELECT id FROM clients_client").fetchone()
            now = int(time.time())
            conn.execute(
                "INSERT INTO tokens_accesstoken (digest, client_id, scope, issued_at, expires_at, generation)"
                " SELECT md5(g::text) || md5(g::text), %s, '', %s - g, %s - g + 3600, 0"
                " FROM generate_series(1, 20000) g",
                [client_pk, now, now],
            )
        errors: list[BaseException] = []
        inserted: list[int] = []
        stop = threading.Event()

        def issue() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                n = 0
                while not stop.is_set() and n < 100000:
                    n += 1
                    try:
                        conn.execute(
                            "INSERT INTO tokens_accesstoken (digest, client_id, scope, issued_at, expires_at,"
                            " generation) VALUES (%s, %s, '', %s, %s, 0)",
                            [f"during-{n}", client_pk, now, now + 3600],
                        )
                        inserted.append(n)
                    except psycopg.Error as error:
                        errors.append(error)

        thread = threading.Thread(target=issue)
        thread.start()
        try:
            time.sleep(0.2)
            manage(url, "migrate", "--noinput", "-v0")
            time.sleep(0.2)
        finally:
            stop.set()
            thread.join(timeout=30)
        assert errors == []
        assert inserted
        with psycopg.connect(url, autocommit=True) as conn:
            where = dict(
                conn.execute("SELECT tableoid::regclass::text, count(*) FROM tokens_accesstoken GROUP BY 1").fetchall()
            )
            assert sum(where.values()) == 20000 + len(inserted)
            assert where[partitions.LEGACY] >= 20000
            (distinct,) = conn.execute("SELECT count(DISTINCT id) FROM tokens_accesstoken").fetchone()
            assert distinct == sum(where.values())
            (kind,) = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'tokens_accesstoken'").fetchone()
            assert kind == "p"
        # Once its last token has expired, the legacy partition goes like any other, its tokens counted.
        bound = next(p.high for p in _partitions(url) if p.name == partitions.LEGACY)
        purge = (
            "import os, django, time_machine; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')\n"
            "django.setup()\n"
            "from django.core.management import call_command\n"
            f"with time_machine.travel({bound + 1}, tick=False): call_command('tokens', 'purge')"
        )
        result = subprocess.run(
            [sys.executable, "-c", purge], cwd=ROOT, env=command_env(url), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert f"purged {20000 + len(inserted)} tokens" in result.stdout
        assert partitions.LEGACY not in {p.name for p in _partitions(url)}
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT sum(count) FROM tokens_issuancecount").fetchone()[0] == 20000 + len(inserted)


@contextlib.contextmanager
def database_at_0007() -> Iterator[str]:
    """A new database migrated up to the token table as it was before partitioning."""
    parts = urlsplit(current_database_url())
    name = f"{parts.path.lstrip('/')}_legacy_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(parts._replace(path="/" + name))
    try:
        manage(url, "migrate", "tokens", "0007", "--noinput", "-v0")
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _partitions(url: str) -> list[partitions.Partition]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tokens_accesstoken'::regclass"
        ).fetchall()
    found = []
    for name, bound in rows:
        match = partitions._BOUND.search(bound)
        found.append(
            partitions.Partition(name, None, None)
            if match is None
            else partitions.Partition(name, *map(partitions._bound, match.groups()))
        )
    return found


@pytest.mark.django_db
def test_metrics_say_how_far_ahead_the_day_partitions_reach(client, settings):
    settings.GATEHOUSE_METRICS_TOKEN = ""
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    (line,) = [x for x in body.splitlines() if x.startswith("gatehouse_token_partitions_ahead_seconds ")]
    ahead = float(line.split()[1])
    assert partitions.covered_until() - time.time() - 5 < ahead <= partitions.covered_until() - time.time() + 5
    assert ahead > partitions.AHEAD_DAYS * DAY - DAY
