"""CPU cost per request, on the Gatehouse side and on the database side: the capacity model of
docs/deployment.md ("Capacity model").

Serves this checkout with gunicorn on PostgreSQL, drives the token and the introspection endpoints with wrk, and
reads from /proc how much CPU time the gunicorn workers and the PostgreSQL backends serving them used. CPU time per
request does not depend on how busy the shared machine is (wall-clock throughput does), so these figures turn
into requests per second per core of each tier:

    app ms/request   CPU of the gunicorn workers (Python, Django, psycopg) per request
    db ms/request    CPU of the PostgreSQL backends of those workers per request

    .venv/bin/python bench/capacity.py [--seconds 10] [--workers 2] [--conns 4]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from scale import basic, first_token, psql, served, worker_pids, wrk

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def backends(db: str) -> list[int]:
    out = psql(f"select pid from pg_stat_activity where datname = '{db}' and pid <> pg_backend_pid()")
    return [int(p) for p in out.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with served("capacity", args.workers) as bench:
        db, base, server = bench.db, bench.base, bench.server
        token = first_token(bench)
        cases = {
            "token": (base + "/oauth/token", "grant_type=client_credentials", basic(bench.cred)),
            "introspect": (base + "/oauth/introspect", f"token={token}", basic(bench.rs)),
        }
        for case in cases.values():
            wrk(*case, seconds=2, conns=args.conns)  # warm up: connections open, statements prepared
        workers = worker_pids(server.pid)
        print(f"# {args.workers} gunicorn workers, {args.conns} connections, {args.rounds} x {args.seconds}s")
        for _ in range(args.rounds):
            for name, case in cases.items():
                db_pids = backends(db)
                app0, db0 = cpu_seconds(workers), cpu_seconds(db_pids)
                result = wrk(*case, seconds=args.seconds, conns=args.conns)
                app1, db1 = cpu_seconds(workers), cpu_seconds(db_pids)
                requests = result["rps"] * args.seconds
                app_ms = (app1 - app0) * 1000 / requests
                db_ms = (db1 - db0) * 1000 / requests
                print(
                    f"{name:<11} {result['rps']:>8.1f} req/s  app {app_ms:.3f} ms/request"
                    f" ({1000 / app_ms:,.0f} req/s per core)  db {db_ms:.3f} ms/request"
                    f" ({1000 / db_ms:,.0f} req/s per core)  errors {int(result['non2xx_or_errors'])}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
