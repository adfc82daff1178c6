"""Scale, purge and memory benchmark of this checkout on PostgreSQL (docs/performance.md).

    .venv/bin/python bench/scale.py [--tokens 1000000] [--seconds 5] [--rounds 3] [--workers 2] [--conns 4]
                                    [--memory-minutes 10]

1. Serves this checkout with gunicorn (production settings, debug off) on a fresh PostgreSQL database.
2. Measures the token and introspection endpoints with wrk on an empty token table.
3. Adds `--tokens` live and as many expired tokens, and measures again (ratio to the empty figures).
4. Runs `manage.py tokens purge` while wrk keeps requesting tokens: throughput before and during the purge.
5. Reports each gunicorn worker's RSS, and with --memory-minutes samples it over a long token run.
Needs wrk and PostgreSQL at 127.0.0.1 (user postgres, trust auth), as bench/compare.sh does.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POST_LUA = ROOT / "bench" / "post.lua"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(sql: str, db: str = "postgres") -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def wrk(url: str, body: str, auth: str, seconds: int, conns: int) -> dict[str, float]:
    env = {**os.environ, "BODY": body, "AUTH": auth}
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", str(POST_LUA), url], env=env, capture_output=True, text=True
    ).stdout
    line = next(
        (x for x in out.splitlines() if x.startswith("RESULT")), "RESULT rps=0 p50_ms=0 p99_ms=0 non2xx_or_errors=-1"
    )
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.\-]+)", line)}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def basic(cred: dict) -> str:
    return "Basic " + base64.b64encode(f"{cred['client_id']}:{cred['client_secret']}".encode()).decode()


@dataclass
class Served:
    db: str
    env: dict
    base: str
    cred: dict  # a client holding the scope bench.read (client_id, client_secret)
    rs: dict  # a global introspector
    server: subprocess.Popen


@contextlib.contextmanager
def served(name: str, workers: int) -> Iterator[Served]:
    """A fresh PostgreSQL database, migrated, with a scope, a client holding it and an introspecting client, and this
    checkout served on it by gunicorn (`workers` sync workers, production settings, no worker recycling, so the pids
    stay the same) until the block ends; the database is dropped afterwards. Every bench script starts here."""
    db = f"gatehouse_{name}_{os.getpid()}"
    psql(f"create database {db}")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": f"{name}-bench-" + os.urandom(24).hex(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "GATEHOUSE_ISSUER": f"http://127.0.0.1:{port}",
    }
    server = None
    try:
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "scope", "create", "bench.read")
        cred = json.loads(manage(env, "client", "create", "bench", "--scope", "bench.read", "--json"))
        rs = json.loads(manage(env, "client", "create", "bench-rs", "--introspect", "--json"))
        server = subprocess.Popen(
            [str(Path(PY).parent / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}"]
            + ["--max-requests", "0", "config.wsgi:application"],
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
        yield Served(db, env, base, cred, rs, server)
    finally:
        if server:
            server.terminate()
            server.wait(10)
        time.sleep(0.5)
        psql(f"drop database if exists {db}")


def first_token(served: Served) -> str:
    """A token of the bench client, for introspection."""
    request = urllib.request.Request(
        served.base + "/oauth/token",
        data=b"grant_type=client_credentials",
        headers={"Authorization": basic(served.cred)},
    )
    return json.load(urllib.request.urlopen(request))["access_token"]


def measure(label: str, cases: dict, args, results: dict) -> None:
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (url, body, auth) in cases.items():
            runs[name].append(wrk(url, body, auth, args.seconds, args.conns))
    for name, rs in runs.items():
        results[(label, name)] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        r = results[(label, name)]
        print(
            f"{label:<22} {name:<11} {r['rps']:>9.1f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  errors {int(r['non2xx_or_errors'])}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1_000_000, help="live tokens to add (and as many expired)")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--memory-minutes", type=float, default=0, help="also run tokens this long, sampling RSS")
    args = parser.parse_args()

    with served("scale", args.workers) as bench:
        db, base, cred, rs, server = bench.db, bench.base, bench.cred, bench.rs, bench.server
        env = bench.env
        token = first_token(bench)
        cases = {
            "token": (base + "/oauth/token", "grant_type=client_credentials", basic(cred)),
            "introspect": (base + "/oauth/introspect", f"token={token}", basic(rs)),
        }
        results: dict = {}
        print(f"# {args.workers} gunicorn workers, {args.conns} connections, {args.rounds} x {args.seconds}s, medians")
        measure("empty table", cases, args, results)

        started = time.monotonic()
        now = int(time.time())
        client_pk, secret_pk = (
            psql(
                "select c.id, s.id from clients_client c join clients_clientsecret s on s.client_id = c.id where c.name = 'bench'",
                db,
            )
            .strip()
            .split("|")
        )
        for label, issued, expires in (("live", now, now + 3600), ("expired", now - 7200, now - 3600)):
            psql(
                "insert into tokens_accesstoken (digest, client_id, secret_id, scope, issued_at, expires_at) "
                f"select md5('{label}' || i) || md5(i || '{label}'), {client_pk}, {secret_pk}, 'bench.read', {issued}, {expires} "
                f"from generate_series(1, {args.tokens}) i",
                db,
            )
        psql("vacuum analyze tokens_accesstoken", db)
        print(f"# seeded {args.tokens} live + {args.tokens} expired tokens in {time.monotonic() - started:.0f}s")
        measure(f"{2 * args.tokens:,} tokens", cases, args, results)
        for name in cases:
            ratio = results[(f"{2 * args.tokens:,} tokens", name)]["rps"] / results[("empty table", name)]["rps"]
            print(f"RATIO {name}: seeded/empty={ratio:.2f}")

        before = wrk(*cases["token"], seconds=args.seconds, conns=args.conns)
        purge = subprocess.Popen(
            [PY, "manage.py", "tokens", "purge"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        started = time.monotonic()
        during = []
        while purge.poll() is None:
            during.append(wrk(*cases["token"], seconds=2, conns=args.conns))
        purge_seconds = time.monotonic() - started
        out = purge.stdout.read().strip() if purge.stdout else ""
        rps_during = statistics.median(r["rps"] for r in during) if during else 0.0
        worst = min((r["rps"] for r in during), default=0.0)
        errors = sum(r["non2xx_or_errors"] for r in during)
        print(
            f"PURGE {out} in {purge_seconds:.1f}s; token req/s before {before['rps']:.1f}, during median {rps_during:.1f} "
            f"(worst 2s window {worst:.1f}, {len(during)} windows, errors {int(errors)})"
        )

        pids = worker_pids(server.pid)
        print("RSS after load (MiB): " + ", ".join(f"worker {p}: {rss_kib(p) / 1024:.1f}" for p in pids))
        if args.memory_minutes:
            end = time.monotonic() + args.memory_minutes * 60
            samples = []
            while time.monotonic() < end:
                r = wrk(*cases["token"], seconds=30, conns=args.conns)
                samples.append((r["rps"], [rss_kib(p) / 1024 for p in pids]))
                print(
                    f"  {len(samples) * 30:>4}s token {r['rps']:.1f} req/s, RSS MiB "
                    + ", ".join(f"{m:.1f}" for m in samples[-1][1]),
                    flush=True,
                )
            first, last = samples[0][1], samples[-1][1]
            print(
                "RSS growth over the run (MiB): "
                + ", ".join(f"{b - a:+.1f}" for a, b in zip(first, last, strict=False))
            )


if __name__ == "__main__":
    main()
