"""Purge under load on PostgreSQL: dropping a partition of expired tokens versus deleting them row by row
(docs/performance.md, "Purge by partition drop").

For each mode, N expired tokens are put where that mode finds them, then `manage.py tokens purge` runs while wrk
keeps requesting tokens:
  drop    in a day partition that has ended: folded into the issuance counters and dropped whole
  delete  in the default partition: deleted in batches of 5,000 rows, each folded first (the only way before the
          table was partitioned, and what SQLite still does)
wrk keeps requesting tokens throughout and the server's /metrics counter of token requests is read every 0.2 s, so
the rate is known over any interval: --baseline seconds before the purge and as long after it (their mean is the rate
without purge), the whole purge
process (its Python start-up included, about 1.4 s of one core, which a `tokens purge --every` service pays once),
and, for the drop, the drop itself (between its two log lines). Prints the rates and their ratios.

    .venv/bin/python bench/purge.py [--tokens 1000000] [--rounds 1] [--baseline 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from scale import PY, ROOT, basic, psql, served, wrk

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


class Issuance:
    """Token requests served so far, read from the server's /metrics every `every` seconds while wrk keeps it busy:
    the rate over any interval, independent of wrk's windows."""

    def __init__(self, base: str, case: tuple, conns: int, every: float = 0.2) -> None:
        self.base, self.case, self.conns, self.every = base, case, conns, every
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._load), threading.Thread(target=self._sample)]

    def __enter__(self) -> Issuance:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _load(self) -> None:
        while not self.stop.is_set():
            wrk(*self.case, seconds=2, conns=self.conns)

    def _sample(self) -> None:
        while not self.stop.is_set():
            body = urllib.request.urlopen(self.base + "/metrics", timeout=5).read().decode()
            served = sum(
                float(line.rsplit(" ", 1)[1])
                for line in body.splitlines()
                if line.startswith("gatehouse_token_requests_total")
            )
            self.samples.append((time.monotonic(), served))
            time.sleep(self.every)

    def rate(self, start: float, end: float) -> float:
        def at(t: float) -> float:
            before = max((s for s in self.samples if s[0] <= t), default=self.samples[0])
            after = min((s for s in self.samples if s[0] >= t), default=self.samples[-1])
            if after[0] == before[0]:
                return before[1]
            return before[1] + (after[1] - before[1]) * (t - before[0]) / (after[0] - before[0])

        return (at(end) - at(start)) / (end - start)


def run_purge(env: dict, base: str, case: tuple, conns: int, baseline: float) -> dict:
    """Issuance for `baseline` seconds, then `tokens purge`; the rates without purge, over the whole purge process,
    and over the drop itself (between the purge's "folding and dropping" and "dropped" log lines)."""
    marks: dict[str, float] = {}
    with Issuance(base, case, conns) as issuance:
        time.sleep(2)  # wrk running
        quiet = time.monotonic()
        time.sleep(baseline)
        started = time.monotonic()
        purge = subprocess.Popen(
            [PY, "manage.py", "tokens", "purge"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for line in purge.stderr or []:
            if "folding and dropping" in line:
                marks["drop_start"] = time.monotonic()
            elif "dropped:" in line:
                marks["drop_end"] = time.monotonic()
        purge.wait()
        ended = time.monotonic()
        time.sleep(baseline)  # and as long again after it: the rate without purge is the mean of both, so that
        after = time.monotonic()  # the machine's drift over the run does not pass for the purge's cost
    out = (purge.stdout.read() if purge.stdout else "").splitlines()
    result = {
        "before": (issuance.rate(quiet, started) + issuance.rate(ended, after)) / 2,
        "during": issuance.rate(started, ended),
        "seconds": ended - started,
        "purged": out[0] if out else "",
    }
    if "drop_end" in marks:
        result["drop"] = issuance.rate(marks["drop_start"], marks["drop_end"])
        result["drop_seconds"] = marks["drop_end"] - marks["drop_start"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--modes", default="drop,delete", help="which of drop, delete to run, in that order")
    parser.add_argument("--baseline", type=float, default=10, help="seconds of issuance measured before each purge")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--conns", type=int, default=4)
    args = parser.parse_args()

    with served("purge", args.workers) as bench:
        db, env, base, cred = bench.db, bench.env, bench.base, bench.cred
        client_pk, secret_pk = (
            psql(
                "select c.id, s.id from clients_client c join clients_clientsecret s on s.client_id = c.id"
                " where c.name = 'bench'",
                db,
            )
            .strip()
            .split("|")
        )
        case = (base + "/oauth/token", "grant_type=client_credentials", basic(cred))
        wrk(*case, seconds=3, conns=args.conns)  # warm up
        print(f"# {args.tokens:,} expired tokens, {args.workers} gunicorn workers, {args.conns} connections")
        today = int(time.time()) // DAY * DAY
        ratios: dict[str, list[float]] = {"drop": [], "drop itself": [], "delete": []}
        for round_ in range(args.rounds):
            for mode in args.modes.split(","):
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
                r = run_purge(env, base, case, args.conns, args.baseline)
                ratio = r["during"] / r["before"]
                ratios[mode].append(ratio)
                line = (
                    f"{mode:<7} seeded in {seeded:.0f}s; {r['purged']}; token req/s without purge {r['before']:.1f};"
                    f" over the purge process ({r['seconds']:.1f}s) {r['during']:.1f}, RATIO={ratio:.2f}"
                )
                if "drop" in r:
                    drop_ratio = r["drop"] / r["before"]
                    ratios["drop itself"].append(drop_ratio)
                    line += f"; over the drop itself ({r['drop_seconds']:.1f}s) {r['drop']:.1f}, RATIO={drop_ratio:.2f}"
                print(line, flush=True)
        for mode, values in ratios.items():
            if values:
                print(f"RATIO {mode}: median during/without={statistics.median(values):.2f}")


if __name__ == "__main__":
    sys.exit(main())
