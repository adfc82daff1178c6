#!/usr/bin/env bash
# Side-by-side load test of the token and introspection endpoints:
#   floor        - the least a Django view can do (one INSERT / one indexed SELECT), peers/floor
#   dot-vanilla  - django-oauth-toolkit 3.4.1 with its defaults, peers/dot_vanilla
#   project      - this checkout, served by gunicorn config.wsgi; its token endpoint twice: a client secret
#                  ("token project") and private_key_jwt with ES256 assertions ("token-pkjwt project")
# All three: gunicorn with the same worker count, Postgres on 127.0.0.1, wrk on loopback,
# rounds alternating between servers so machine drift hits all alike. Prints medians and ratios.
#
# A copy of the team's shared side-by-side benchmark, shipped so users can reproduce docs/performance.md.
# Usage (from the project root, after its README set-up): `make bench`, or
#   bench/compare.sh [--rounds 3] [--seconds 5] [--workers 2] [--conns 4] [--python .venv/bin/python]
# Needs: wrk (apt-get install wrk), psql/createdb, Postgres with trust auth for user postgres on 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=3 secs=5 workers=2 conns=4 py=${PROJECT_PYTHON:-.venv/bin/python} only=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2;; --seconds) secs=$2; shift 2;; --workers) workers=$2; shift 2;;
    --conns) conns=$2; shift 2;; --python) py=$2; shift 2;; --only) only=$2; shift 2;;
    *) echo "unknown option $1"; exit 2;;
  esac
done
project=$(pwd)
py=$(cd "$(dirname "$py")" && pwd)/$(basename "$py")
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk"; exit 2; }
pg="psql -h 127.0.0.1 -U postgres -q"
peer_venv=${PEER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse-bench/peer-venv}
if [[ ! -x $peer_venv/bin/gunicorn ]]; then
  mkdir -p "$(dirname "$peer_venv")"; python3 -m venv "$peer_venv"
  "$peer_venv/bin/pip" install -q "django>=5.2,<5.3" django-oauth-toolkit==3.4.1 "psycopg[binary]>=3.2" gunicorn
fi
run=$(mktemp -d)
pids=()
dbs=(bench_floor_$$ bench_dot_$$ bench_project_$$)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for d in "${dbs[@]}"; do $pg -c "drop database if exists $d" >/dev/null 2>&1 || true; done
  rm -rf "$run"
}
trap cleanup EXIT
for d in "${dbs[@]}"; do $pg -c "create database $d" >/dev/null; done

up() { for _ in $(seq 80); do curl -s -o /dev/null "$1" && return 0; sleep 0.25; done; echo "server at $1 did not start"; cat "$run"/*.log | tail -30; exit 1; }
tok() { python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])'; }
b64() { printf %s "$1" | base64 -w0; }

# floor
(cd "$here/peers/floor" && FLOOR_DB=${dbs[0]} exec "$peer_venv/bin/gunicorn" --preload -w "$workers" -b 127.0.0.1:8301 app:application) >"$run/floor.log" 2>&1 &
pids+=($!)
# vanilla DOT
(cd "$here/peers/dot_vanilla" && PEER_DB=${dbs[1]} DJANGO_SETTINGS_MODULE=settings PYTHONPATH=. "$peer_venv/bin/django-admin" migrate -v0 \
  && PEER_DB=${dbs[1]} exec "$peer_venv/bin/gunicorn" -w "$workers" -b 127.0.0.1:8302 wsgi:application) >"$run/dot.log" 2>&1 &
pids+=($!)
# project (skipped where the current folder has no manage.py)
have_project=0
if [[ -f manage.py ]]; then
  have_project=1
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/${dbs[2]} DJANGO_DEBUG=0 DJANGO_SECRET_KEY=bench-$$-not-secret-$$-padding-to-fifty-characters-long
  export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost DJANGO_SECURE_SSL_REDIRECT=0 GATEHOUSE_ISSUER=http://127.0.0.1:8303
  "$py" manage.py migrate --noinput -v0
  (exec "$(dirname "$py")/gunicorn" -w "$workers" -b 127.0.0.1:8303 config.wsgi:application) >"$run/project.log" 2>&1 &
  pids+=($!)
fi
up http://127.0.0.1:8301/hello; up http://127.0.0.1:8302/.well-known/oauth-authorization-server
[[ $have_project == 1 ]] && up http://127.0.0.1:8303/.well-known/oauth-authorization-server

# credentials and tokens for each server
floor_tok=$(curl -s -X POST http://127.0.0.1:8301/issue | tok)
dot_cred=$(PEER_DB=${dbs[1]} "$peer_venv/bin/python" "$here/peers/dot_vanilla/cli.py" create | python3 -c 'import sys,json;d=json.load(sys.stdin);print(d["client_id"]+":"+d["client_secret"])')
dot_rs_tok=$(curl -s -u "$dot_cred" -d grant_type=client_credentials -d scope=introspection http://127.0.0.1:8302/token/ | tok)
dot_tok=$(curl -s -u "$dot_cred" -d grant_type=client_credentials -d scope=read http://127.0.0.1:8302/token/ | tok)
if [[ $have_project == 1 ]]; then
  "$py" manage.py scope create bench.read --description "benchmark scope" >/dev/null 2>&1 || true
  proj_cred=$("$py" manage.py client create bench --scope bench.read --json | python3 -c 'import sys,json;t=sys.stdin.read();d=json.loads(t[t.index("{"):]);print(d["client_id"]+":"+d["client_secret"])')
  proj_rs=$("$py" manage.py client create bench-rs --introspect --json | python3 -c 'import sys,json;t=sys.stdin.read();d=json.loads(t[t.index("{"):]);print(d["client_id"]+":"+d["client_secret"])')
  proj_meta=$(curl -s http://127.0.0.1:8303/.well-known/oauth-authorization-server)
  proj_token_url=$(python3 -c 'import sys,json;print(json.loads(sys.argv[1])["token_endpoint"])' "$proj_meta")
  proj_intro_url=$(python3 -c 'import sys,json;print(json.loads(sys.argv[1])["introspection_endpoint"])' "$proj_meta")
  proj_tok=$(curl -s -u "$proj_cred" -d grant_type=client_credentials "$proj_token_url" | tok)
  # The same with audience in play (RFC 8707): a scope of a resource server, `resource` on the token request, an
  # introspecting client bound to that resource server (skipped on a checkout without the `resource` command).
  if "$py" manage.py resource create https://bench.example.com --name bench >/dev/null 2>&1; then
    "$py" manage.py scope create bench.aud --resource https://bench.example.com >/dev/null 2>&1 || true
    proj_aud_cred=$("$py" manage.py client create bench-aud --scope bench.aud --json | python3 -c 'import sys,json;t=sys.stdin.read();d=json.loads(t[t.index("{"):]);print(d["client_id"]+":"+d["client_secret"])')
    proj_aud_rs=$("$py" manage.py client create bench-aud-rs --introspect --resource https://bench.example.com --json | python3 -c 'import sys,json;t=sys.stdin.read();d=json.loads(t[t.index("{"):]);print(d["client_id"]+":"+d["client_secret"])')
    proj_aud_tok=$(curl -s -u "$proj_aud_cred" -d grant_type=client_credentials -d resource=https://bench.example.com "$proj_token_url" | tok)
  fi
  # private_key_jwt: an ES256 key pair, the public half registered; assertions are signed before each round
  "$py" -c 'import json;from joserfc.jwk import ECKey;k=ECKey.generate_key("P-256",parameters={"kid":"bench"});open("'"$run"'/key.json","w").write(json.dumps(k.as_dict(private=True)));open("'"$run"'/jwks.json","w").write(json.dumps({"keys":[k.as_dict(private=False)]}))'
  pkjwt_id=$("$py" manage.py client create bench-pkjwt --scope bench.read --jwks "$run/jwks.json" --json | python3 -c 'import sys,json;t=sys.stdin.read();print(json.loads(t[t.index("{"):])["client_id"])')
fi

# name|url|body|authorization
cases=(
  "token floor|http://127.0.0.1:8301/issue|grant_type=client_credentials|"
  "token dot-vanilla|http://127.0.0.1:8302/token/|grant_type=client_credentials|Basic $(b64 "$dot_cred")"
  "introspect floor|http://127.0.0.1:8301/check|token=$floor_tok|"
  "introspect dot-vanilla|http://127.0.0.1:8302/introspect/|token=$dot_tok|Bearer $dot_rs_tok"
)
if [[ $have_project == 1 ]]; then
  cases+=("token project|$proj_token_url|grant_type=client_credentials|Basic $(b64 "$proj_cred")"
          "token-pkjwt project|$proj_token_url|@pkjwt|"
          "introspect project|$proj_intro_url|token=$proj_tok|Basic $(b64 "$proj_rs")")
  if [[ -n ${proj_aud_tok:-} ]]; then
    cases+=("token project-aud|$proj_token_url|grant_type=client_credentials&resource=https%3A%2F%2Fbench.example.com|Basic $(b64 "$proj_aud_cred")"
            "introspect project-aud|$proj_intro_url|token=$proj_aud_tok|Basic $(b64 "$proj_aud_rs")")
  fi
fi
for r in $(seq "$rounds"); do
  for c in "${cases[@]}"; do
    IFS='|' read -r name url body auth <<<"$c"
    [[ -n $only && $name != *$only* ]] && continue
    script=$here/post.lua
    if [[ $body == @pkjwt ]]; then
      script=$here/pkjwt.lua
      "$py" "$here/assertions.py" "$run/key.json" "$pkjwt_id" "$url" $((secs * 5000)) "$run/bodies"
    fi
    line=$(BODIES="$run/bodies" BODY="$body" AUTH="$auth" wrk -t1 -c"$conns" -d"${secs}s" -s "$script" "$url" | grep '^RESULT' || echo "RESULT rps=0 p50_ms=0 p99_ms=0 non2xx_or_errors=-1")
    echo "$name $line" >>"$run/results"
  done
done
python3 - "$run/results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    ep, server, _, *kv = line.split()
    d = dict(x.split("=", 1) for x in kv if "=" in x and not x.startswith("codes"))
    rows.setdefault((ep, server), []).append({k: float(v) for k, v in d.items()})
print(f"{'endpoint':<11} {'server':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
med = {}
for (ep, server), rs in rows.items():
    m = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
    med[(ep, server)] = m["rps"]
    print(f"{ep:<11} {server:<12} {m['rps']:>9.1f} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} {int(max(r['non2xx_or_errors'] for r in rs)):>7}")
for ep in ("token", "introspect"):
    for project in ("project", "project-aud"):
        p, f, d = med.get((ep, project)), med.get((ep, "floor")), med.get((ep, "dot-vanilla"))
        if p is not None and f and d:
            print(f"RATIO {ep}: {project}/floor={p / f:.2f} {project}/dot-vanilla={p / d:.1f}")
k, p, f = med.get(("token-pkjwt", "project")), med.get(("token", "project")), med.get(("token", "floor"))
if k is not None and p and f:
    print(f"RATIO token-pkjwt: project/floor={k / f:.2f} pkjwt/secret={k / p:.2f}")
PY
