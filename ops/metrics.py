"""Prometheus metrics: what the OAuth endpoints did, how long they took, and how many tokens are live.

Under gunicorn each worker counts into its own files in PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py creates and
cleans that folder) and a scrape adds the workers up; without the variable (runserver, tests) the process's own
registry is the answer. The hot paths only increment counters: no SQL, label children made once where the
label values are known in advance. The live token count is one COUNT, run at scrape time.
"""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from tokens import signals
from tokens.addresses import address_in
from tokens.outcome import Outcome

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

ENDPOINTS = ("token", "introspect", "revoke")
INTROSPECTION_RESULTS = ("active", "inactive", "refused")
UNAUTHENTICATED = "unauthenticated"  # the client label of requests whose client did not authenticate
# Failed before any lookup: no credentials, a malformed Basic header, an empty or oversized id or secret.
MALFORMED = "malformed_credentials"

LATENCY = Histogram(
    "gatehouse_request_duration_seconds",
    "Time to answer an OAuth request, by endpoint.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
TOKEN_REQUESTS = Counter(
    "gatehouse_token_requests",
    "Token requests by client (when it authenticated) and outcome (issued, or the OAuth error code).",
    ["client_id", "outcome"],
)
INTROSPECTIONS = Counter(
    "gatehouse_introspections", "Introspection calls by result: active, inactive or refused.", ["result"]
)
AUTH_FAILURES = Counter(
    "gatehouse_authentication_failures", "Failed client authentications by endpoint and reason.", ["endpoint", "reason"]
)

UNDER_ATTACK = Counter(
    "gatehouse_clients_under_attack",
    "Times a client id reached GATEHOUSE_AUTH_ALERT_THRESHOLD failed authentications within the window.",
    ["client_id"],
)
THROTTLED = Counter(
    "gatehouse_throttle_blocks",
    "Blocks started by the throttle: kind noise (an address group) or pair (an address group and a client id).",
    ["kind"],
)

_latency = {endpoint: LATENCY.labels(endpoint) for endpoint in ENDPOINTS}
_introspections = {result: INTROSPECTIONS.labels(result) for result in INTROSPECTION_RESULTS}


def observe(outcome: Outcome, seconds: float) -> None:
    """Count one OAuth request (a tokens.outcome.Outcome) that took `seconds`."""
    endpoint, result = outcome.endpoint, outcome.result or "server_error"
    latency = _latency.get(endpoint) or LATENCY.labels(endpoint)
    latency.observe(seconds)
    if endpoint == "token":
        TOKEN_REQUESTS.labels(outcome.client_id if outcome.authenticated else UNAUTHENTICATED, result).inc()
    elif endpoint == "introspect":
        _introspections[result if result in ("active", "inactive") else "refused"].inc()
    reason = failure_reason(outcome)
    if reason:
        AUTH_FAILURES.labels(endpoint, reason).inc()


def _count_attack(sender: object, *, client_id: str, **kwargs: object) -> None:
    UNDER_ATTACK.labels(client_id).inc()  # only real client ids: unknown ones are noise, never flagged


def _count_block(sender: object, *, kind: str, **kwargs: object) -> None:
    THROTTLED.labels(kind).inc()


signals.client_under_attack.connect(_count_attack, dispatch_uid="gatehouse-metrics-attack")
signals.throttled.connect(_count_block, dispatch_uid="gatehouse-metrics-block")


def failure_reason(outcome: Outcome) -> str:
    """Why client authentication failed, or "" when it did not."""
    if outcome.reason:
        return outcome.reason
    return MALFORMED if outcome.result == "invalid_client" else ""


class LiveTokens:
    """`gatehouse_live_tokens`: tokens neither expired nor revoked, counted when Prometheus scrapes; on PostgreSQL
    also `gatehouse_token_partitions_ahead_seconds`, how far ahead the token table's day partitions reach (below a
    day: `tokens purge` has not run for days and new tokens are going to the default partition)."""

    def collect(self):  # type: ignore[no-untyped-def]
        from tokens import partitions
        from tokens.models import AccessToken

        family = GaugeMetricFamily("gatehouse_live_tokens", "Access tokens neither expired nor revoked.")
        now = timezone.now()
        try:
            family.add_metric([], AccessToken.objects.live(now).count())
            ahead = partitions.covered_until() if partitions.is_partitioned() else None
        except DatabaseError:
            return
        yield family
        if ahead is not None:
            yield GaugeMetricFamily(
                "gatehouse_token_partitions_ahead_seconds",
                "Seconds from now to the end of the token table's last day partition (run tokens purge to extend).",
                value=ahead - int(now.timestamp()),
            )


class Replicas:
    """`gatehouse_replica_lag_seconds` and `gatehouse_replica_in_service` per replica, as the scraped worker sees them
    (tokens/replicas.py; nothing without replicas)."""

    def collect(self):  # type: ignore[no-untyped-def]
        from tokens import replicas

        if not replicas.ALIASES:
            return
        lag = GaugeMetricFamily(
            "gatehouse_replica_lag_seconds",
            "Seconds a read replica is behind the primary (last measured).",
            labels=["replica"],
        )
        used = GaugeMetricFamily(
            "gatehouse_replica_in_service", "1 if introspection reads from this replica, else 0.", labels=["replica"]
        )
        for replica in replicas.status():
            if replica.lag is not None:
                lag.add_metric([replica.name], replica.lag)
            used.add_metric([replica.name], 1.0 if replica.state == replicas.IN else 0.0)
        yield lag
        yield used


_live_registry = CollectorRegistry()
_live_registry.register(LiveTokens())
_live_registry.register(Replicas())


def exposition() -> bytes:
    """Every metric in Prometheus' text format, summed over the gunicorn workers when there are several."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(LiveTokens())
        registry.register(Replicas())
        return generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(_live_registry)


def _error(status: int, error: str, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(b'{"error": "%s"}' % error.encode(), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: from an allowed network, and with the bearer token when GATEHOUSE_METRICS_TOKEN is set."""
    if request.method not in ("GET", "HEAD"):
        return _error(405, "method_not_allowed", {"Allow": "GET, HEAD"})
    # The socket's address, not client_address(): a forwarded header must not open the metrics.
    if not address_in(request.META.get("REMOTE_ADDR", ""), settings.GATEHOUSE_METRICS_NETWORKS):
        return _error(403, "forbidden")
    expected = settings.GATEHOUSE_METRICS_TOKEN
    if expected:
        scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
            return _error(401, "unauthorized", {"WWW-Authenticate": 'Bearer realm="gatehouse-metrics"'})
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
