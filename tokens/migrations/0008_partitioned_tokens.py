"""PostgreSQL: the token table becomes range-partitioned by expiry, on a live database, without copying a row.

1. Outside any transaction, so tokens keep being issued and introspected (docs/deployment.md, "Upgrading to
   partitioned tokens"): build the unique indexes a partition needs, (id, expires_at) and (digest, expires_at),
   CONCURRENTLY; add a CHECK that every expiry is below `bound` (the start of the UTC day after the latest expiry a
   token issued during the migration can have) NOT VALID, then VALIDATE it (a scan under a lock that lets reads and
   writes go on).
2. In one short transaction, under a lock_timeout: the table is renamed tokens_accesstoken_legacy and becomes the
   partition FROM (MINVALUE) TO (bound) of a new partitioned tokens_accesstoken, with the same columns, foreign keys
   and indexes (PostgreSQL adopts the legacy table's matching indexes and constraints, and the validated CHECK spares
   it the scan), plus the default partition and the day partitions from `bound` on. Ids continue from the legacy
   table's. The legacy partition is dropped by `tokens purge` like any other, once its last token has expired.

SQLite keeps the plain table. Step 1 is idempotent, so a migration interrupted there can be run again.
"""

from datetime import UTC, datetime

from django.db import migrations, transaction

from clients.limits import MAX_TOKEN_TTL

PARENT = "tokens_accesstoken"
LEGACY = "tokens_accesstoken_legacy"
DAY = 86400
SKEW = 3600  # tokens.partitions.CLOCK_SKEW, as it was when this migration was written
AHEAD = 1


def _rows(cursor, sql, params=()):
    cursor.execute(sql, params)
    return cursor.fetchall()


def partition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if _rows(cursor, "SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [PARENT]):
            return
        # 1. Online preparation.
        cursor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS legacy_token_id_expiry ON {PARENT} (id, expires_at)"
        )
        cursor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS legacy_token_digest_expiry ON {PARENT} (digest, expires_at)"
        )
        (latest, now), = _rows(cursor, f"SELECT max(expires_at), extract(epoch FROM now())::bigint FROM {PARENT}")
        reach = max(latest or 0, now + MAX_TOKEN_TTL + SKEW)
        bound = reach - reach % DAY + DAY
        cursor.execute(f"ALTER TABLE {PARENT} DROP CONSTRAINT IF EXISTS legacy_token_bound")
        cursor.execute(f"ALTER TABLE {PARENT} ADD CONSTRAINT legacy_token_bound CHECK (expires_at < {bound}) NOT VALID")
        cursor.execute(f"ALTER TABLE {PARENT} VALIDATE CONSTRAINT legacy_token_bound")

        # 2. The switch, in one transaction.
        with transaction.atomic(using=connection.alias):
            cursor.execute("SET LOCAL lock_timeout = '10s'")
            cursor.execute(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE")
            indexes = _rows(
                cursor,
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                " WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT x.indisunique",
                [PARENT],
            )
            foreign_keys = _rows(
                cursor,
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
                " AND contype = 'f'",
                [PARENT],
            )
            (next_id,), = _rows(cursor, f"SELECT coalesce(max(id), 0) + 1 FROM {PARENT}")
            cursor.execute(f"ALTER TABLE {PARENT} RENAME TO {LEGACY}")
            cursor.execute(f"ALTER TABLE {LEGACY} ALTER COLUMN id DROP IDENTITY")
            cursor.execute(f"ALTER TABLE {LEGACY} DROP CONSTRAINT {PARENT}_pkey")
            cursor.execute(f"ALTER TABLE {LEGACY} ADD CONSTRAINT {LEGACY}_pkey PRIMARY KEY USING INDEX legacy_token_id_expiry")
            for name, _ in indexes:
                if not name.endswith("_like"):
                    cursor.execute(f'ALTER INDEX "{name}" RENAME TO "legacy_{name}"')

            cursor.execute(f"CREATE SEQUENCE {PARENT}_id_seq START {next_id}")
            cursor.execute(f"CREATE TABLE {PARENT} (LIKE {LEGACY} INCLUDING DEFAULTS) PARTITION BY RANGE (expires_at)")
            cursor.execute(f"ALTER TABLE {PARENT} ALTER COLUMN id SET DEFAULT nextval('{PARENT}_id_seq')")
            cursor.execute(f"ALTER SEQUENCE {PARENT}_id_seq OWNED BY {PARENT}.id")
            cursor.execute(f"ALTER TABLE {PARENT} ADD CONSTRAINT {PARENT}_pkey PRIMARY KEY (id, expires_at)")
            cursor.execute(f"CREATE UNIQUE INDEX token_digest_expiry ON {PARENT} (digest, expires_at)")
            for name, definition in indexes:
                if not name.endswith("_like"):  # no lookup by prefix: the legacy partition keeps its own
                    cursor.execute(definition)  # names the table as it was: the new parent, in the same schema
            for name, definition in foreign_keys:
                cursor.execute(f'ALTER TABLE {PARENT} ADD CONSTRAINT "{name}" {definition}')
            if _rows(cursor, f"SELECT EXISTS (SELECT 1 FROM {LEGACY})")[0][0]:
                cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {LEGACY} FOR VALUES FROM (MINVALUE) TO ({bound})")
                first = bound
            else:  # a new database: day partitions from today (UTC)
                cursor.execute(f"DROP TABLE {LEGACY}")
                first = now - now % DAY
            cursor.execute(f"CREATE TABLE {PARENT}_default PARTITION OF {PARENT} DEFAULT")
            last = (now + MAX_TOKEN_TTL + SKEW) // DAY * DAY + AHEAD * DAY
            for day in range(first, max(first, last) + DAY, DAY):
                name = f"{PARENT}_p{datetime.fromtimestamp(day, tz=UTC):%Y%m%d}"
                cursor.execute(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM ({day}) TO ({day + DAY})")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tokens", "0007_issuance_count_per_client")]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
