"""Liveness and readiness probes for orchestrators and load balancers.

`/healthz` does no I/O: a 200 only says the worker answers. `/readyz` says whether this instance can serve:
the database answers and every migration is applied. Once the migrations have been seen applied, a worker
stops re-reading the migration graph and readiness costs one `SELECT 1`. With read replicas the body also shows
each one's state and lag as this worker sees them; a replica out of service does not make the instance unready.
"""

from __future__ import annotations

import json

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse

from tokens import replicas

OK = b'{"status": "ok"}'


class _State:
    migrated = False  # per worker; set once every migration has been seen applied


state = _State()


def _json(body: bytes, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def _unavailable(reason: str) -> HttpResponse:
    return _json(b'{"status": "unavailable", "reason": "%s"}' % reason.encode(), 503)


def pending_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def healthz(request: HttpRequest) -> HttpResponse:
    return _json(OK)


def readyz(request: HttpRequest) -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not state.migrated:
            if pending_migrations():
                return _unavailable("migrations pending")
            state.migrated = True
    except DatabaseError:
        return _unavailable("database unreachable")
    if replicas.ALIASES:
        # A replica out of service does not make the instance unready: the primary answers in its place.
        body = {"status": "ok", "replicas": [_replica(replica) for replica in replicas.status()]}
        return _json(json.dumps(body).encode())
    return _json(OK)


def _replica(replica: replicas.Replica) -> dict[str, object]:
    return {"name": replica.name, "state": replica.state, "lag_seconds": replica.lag, "reason": replica.reason}
