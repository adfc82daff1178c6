"""Purge under load on PostgreSQL: dropping a partition of expired tokens versus deleting them row by row
(docs/performance.md, "Purge by partition drop").

For each mode, N expired tokens are put where that mode finds them, then `manage.py tokens purge` runs while wrk
keeps requesting tokens:
  drop    in a day partition that has ended: folded into the issuance counters and dropped whole
  delete  in the default partition: deleted in batches of 5,000 rows, each folded first (the only way before the
          table was partitioned, and what SQLite still does)
Token req/s is measured in windows of --window seconds: as many before the purge (the rate without purge) as it
takes, then back to back until the purge process exits. Prints both rates, their ratio and the purge's duration.

    .venv/bin/python bench/purge.py [--tokens 1000000] [--rounds 1] [--window 2]
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

from scale import PY, ROOT, basic, free_port, manage, psql, wrk

DAY = 86400


def seed(db: str, client_pk: str, secret_pk: str, n: int, low: int) -> None:
    """n tokens expiring in [low, low + DAY), issued an hour before, spread over the day's hours."""
    psql(
        "insert into tokens_accesstoken (digest, client_id, secret_id, scope, issued_at, expires_at) "
        f"select md5('t' || i || '{low}') || md5('{low}' || i), {client_pk}, {secret_pk}, 'bench.read', "
        f"{low} + (i % {DAY - 1}) - 3600, {low} + (i % {DAY - 1}) from generate_series(1, {n}) i",
        db,
    )
    psql("vacuum analyze tokens_accesstoken", db)
    psql("checkpoint", db)


def run_purge(env: dict, case: tuple, window: int, conns: int, baseline_windows: int) -> dict:
    before = [wrk(*case, seconds=window, conns=conns)["rps"] for _ in range(baseline_windows)]
    started = time.monotonic()
    purge = subprocess.Popen([PY, "manage.py", "tokens", "purge"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    during = []
    while purge.poll() is None:
        during.append(wrk(*case, seconds=window, conns=conns))
    seconds = time.monotonic() - started
    out = (purge.stdout.read() if purge.stdout else "").splitlines()
    return {
        "before": statistics.mean(before),
        "during": statistics.mean(r["rps"] for r in during) if during else 0.0,
        "windows": len(during),
        "errors": int(sum(r["non2xx_or_errors"] for r in during)),
        "seconds": seconds,
        "purged": out[0] if out else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--baseline-windows", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--conns", type=int, default=4)
    args = parser.parse_args()

    db = f"gatehouse_purge_{os.getpid()}"
    psql(f"create database {db}")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "purge-bench-" + os.urandom(24).hex(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "GATEHOUSE_ISSUER": f"http://127.0.0.1:{port}",
    }
    server = None
    try:
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "scope", "create", "bench.read")
        cred = json.loads(manage(env, "client", "create", "bench", "--scope", "bench.read", "--json"))
        client_pk, secret_pk = (
            psql(
                "select c.id, s.id from clients_client c join clients_clientsecret s on s.client_id = c.id"
                " where c.name = 'bench'",
                db,
            )
            .strip()
            .split("|")
        )
        server = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}"]
            + ["config.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(80):
            try:
                urllib.request.urlopen(base + "/.well-known/oauth-authorization-server", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        case = (base + "/oauth/token", "grant_type=client_credentials", basic(cred))
        wrk(*case, seconds=3, conns=args.conns)  # warm up
        print(
            f"# {args.tokens:,} expired tokens, {args.workers} gunicorn workers, {args.conns} connections, {args.window}s windows"
        )
        today = int(time.time()) // DAY * DAY
        ratios: dict[str, list[float]] = {"drop": [], "delete": []}
        for round_ in range(args.rounds):
            for mode in ("drop", "delete"):
                # drop: a day partition that has ended; delete: a day no partition covers (the default partition)
                low = today - DAY if mode == "drop" else today - (3 + round_) * DAY
                if mode == "drop":
                    stamp = time.strftime("%Y%m%d", time.gmtime(low))
                    psql(
                        f"create table tokens_accesstoken_p{stamp} partition of tokens_accesstoken"
                        f" for values from ({low}) to ({low + DAY})",
                        db,
                    )
                started = time.monotonic()
                seed(db, client_pk, secret_pk, args.tokens, low)
                seeded = time.monotonic() - started
                r = run_purge(env, case, args.window, args.conns, args.baseline_windows)
                ratio = r["during"] / r["before"] if r["before"] else 0.0
                ratios[mode].append(ratio)
                print(
                    f"{mode:<7} seeded in {seeded:.0f}s; {r['purged']} in {r['seconds']:.1f}s; token req/s without purge "
                    f"{r['before']:.1f}, during {r['during']:.1f} ({r['windows']} windows, errors {r['errors']}); "
                    f"RATIO during/without={ratio:.2f}",
                    flush=True,
                )
        for mode, values in ratios.items():
            print(f"RATIO {mode}: median during/without={statistics.median(values):.2f}")
    finally:
        if server:
            server.terminate()
            server.wait(10)
        time.sleep(0.5)
        psql(f"drop database if exists {db}")


if __name__ == "__main__":
    sys.exit(main())
