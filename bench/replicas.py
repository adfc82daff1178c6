"""Introspection read from a streaming replica versus the primary (docs/performance.md, "Read replicas").

    .ci/replica.sh                                   # a streaming replica of the local PostgreSQL on port 5433
    flock /tmp/gatehouse-bench.lock .venv/bin/python bench/replicas.py [--seconds 5] [--rounds 3] [--workers 2]

Two gunicorn servers of this checkout on one fresh database, both with `--workers` workers: "primary" without
replicas, "replica" with DATABASE_REPLICA_URLS pointing at the replica. wrk alternates between them, round by round,
on three cases: an active token (the replica answers), an unknown token (the replica answers "no", the primary is
asked again: the worst case) and, for reference, the token endpoint. Prints medians, the ratio replica/primary, and
how many transactions each introspection cost the primary (pg_stat_database). Both database servers share this
machine's cores, so the ratio is the replica path's cost per request, not the capacity a replica adds on its own host.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scale import ROOT, basic, free_port, manage, psql, wrk  # noqa: E402

from clients.credentials import ACCESS_TOKEN_PREFIX, new_credential  # noqa: E402

PY = sys.executable


def primary_transactions(db: str) -> int:
    time.sleep(1.2)  # PostgreSQL 15 publishes a backend's counts at most once a second
    return int(psql(f"select xact_commit + xact_rollback from pg_stat_database where datname = '{db}'").strip())


def start(env: dict, workers: int, port: int) -> subprocess.Popen:
    gunicorn = str(Path(PY).parent / "gunicorn")
    return subprocess.Popen(
        [gunicorn, "-w", str(workers), "-b", f"127.0.0.1:{port}", "--max-requests", "0", "config.wsgi:application"],
        cwd=ROOT,
        env={**env, "GATEHOUSE_ISSUER": f"http://127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return response.read()


def wait_ready(base: str, replica: bool) -> None:
    for _ in range(200):
        try:
            body = json.loads(get(base + "/readyz"))
            if not replica or all(r["state"] == "in" for r in body.get("replicas", [{"state": "?"}])):
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{base} not ready (replica in service: {replica})")


def replica_reads(base: str) -> dict[str, float]:
    counts = {}
    for line in get(base + "/metrics").decode().splitlines():
        if line.startswith("gatehouse_replica_reads_total{"):
            counts[line.split('"')[1]] = float(line.rsplit(" ", 1)[1])
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--replica", default="postgres://postgres@127.0.0.1:5433", help="the replica's server")
    args = parser.parse_args()

    db = f"gatehouse_replicas_{os.getpid()}"
    psql(f"create database {db}")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "replica-bench-" + os.urandom(24).hex(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "GATEHOUSE_ISSUER": "http://127.0.0.1",  # each server gets its own (start)
        "GATEHOUSE_LOG_FORMAT": "json",
        "GATEHOUSE_LOG_LEVEL": "WARNING",
    }
    servers: list[subprocess.Popen] = []
    try:
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "scope", "create", "bench.read")
        cred = json.loads(manage(env, "client", "create", "bench", "--scope", "bench.read", "--json"))
        rs = json.loads(manage(env, "client", "create", "bench-rs", "--introspect", "--json"))
        bases = {}
        for name, extra in (("primary", {}), ("replica", {"DATABASE_REPLICA_URLS": f"{args.replica}/{db}"})):
            port = free_port()
            servers.append(start({**env, **extra}, args.workers, port))
            bases[name] = f"http://127.0.0.1:{port}"
        for name, base in bases.items():
            wait_ready(base, replica=name == "replica")
        request = urllib.request.Request(
            bases["primary"] + "/oauth/token",
            data=b"grant_type=client_credentials",
            headers={"Authorization": basic(cred)},
        )
        token = json.load(urllib.request.urlopen(request))["access_token"]  # noqa: S310 - loopback
        time.sleep(0.5)  # on the replica by now
        unknown = new_credential(ACCESS_TOKEN_PREFIX)  # well-formed, so a replica's "no" is asked again of the primary
        cases = {
            "introspect active": ("/oauth/introspect", f"token={token}", basic(rs)),
            "introspect unknown": ("/oauth/introspect", f"token={unknown}", basic(rs)),
            "token": ("/oauth/token", "grant_type=client_credentials", basic(cred)),
        }
        print(
            f"# {args.workers} gunicorn workers per server, {args.conns} connections, {args.rounds} x {args.seconds}s"
        )
        runs: dict[tuple[str, str], list[dict]] = {}
        per_request: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for case, (path, body, auth) in cases.items():
                for server, base in bases.items():
                    before = primary_transactions(db)
                    result = wrk(base + path, body, auth, args.seconds, args.conns)
                    spent = primary_transactions(db) - before
                    runs.setdefault((case, server), []).append(result)
                    requests = result["rps"] * args.seconds
                    per_request.setdefault((case, server), []).append(spent / requests if requests else 0.0)
        for case in cases:
            row = {}
            for server in bases:
                rs_ = runs[(case, server)]
                row[server] = {k: statistics.median(r[k] for r in rs_) for k in rs_[0]}
                xacts = statistics.median(per_request[(case, server)])
                r = row[server]
                print(
                    f"{case:<19} {server:<8} {r['rps']:>8.1f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                    f"  primary xacts/request {xacts:.2f}  errors {int(r['non2xx_or_errors'])}",
                    flush=True,
                )
            print(f"RATIO {case}: replica/primary req/s = {row['replica']['rps'] / row['primary']['rps']:.2f}")
        print("replica server's introspections by source:", replica_reads(bases["replica"]))
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(15)
        time.sleep(0.5)
        psql(f"drop database if exists {db} with (force)")


if __name__ == "__main__":
    main()
