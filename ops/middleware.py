"""First middleware in the stack: answers the probes and /metrics, tags and times every other request.

The probes and /metrics are answered here, before SecurityMiddleware and CommonMiddleware, because an
orchestrator calls them by the pod's address over plain HTTP: the Host check and the HTTPS redirect that protect
the real endpoints would turn them into 400s and 301s. They are not logged, so probes at high volume cost no
log lines.

Every other request gets a request id (the caller's `X-Request-ID` when it is short and plain, else a new one),
returned in `X-Request-ID` and added to every log line written while the request is served. An OAuth request (one whose view left a `request.oauth` outcome, see tokens.views)
is then counted in the metrics and written as one line on the `gatehouse.access` logger.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from time import perf_counter

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from ops import metrics, probes
from ops.logs import current_request_id
from tokens.addresses import client_address
from tokens.outcome import Outcome, loggable_client_id

access_log = logging.getLogger("gatehouse.access")


def security_headers() -> dict[str, str]:
    """The headers SecurityMiddleware and XFrameOptionsMiddleware put on every other response, from the same
    settings (SECURE_CONTENT_TYPE_NOSNIFF, X_FRAME_OPTIONS, SECURE_REFERRER_POLICY,
    SECURE_CROSS_ORIGIN_OPENER_POLICY), for the answers given here before they run."""
    headers = {"X-Frame-Options": settings.X_FRAME_OPTIONS}
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers["Referrer-Policy"] = policy if isinstance(policy, str) else ",".join(policy)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    return headers


REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/@-]{1,128}")


def request_id(request: HttpRequest) -> str:
    presented = request.META.get("HTTP_X_REQUEST_ID", "")
    return presented if REQUEST_ID.fullmatch(presented) else os.urandom(16).hex()


class OpsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.routes = {"/healthz": probes.healthz, "/readyz": probes.readyz, "/metrics": metrics.view}
        self.probe_headers = security_headers()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        route = self.routes.get(request.path_info)
        if route is not None:
            response = route(request)
            for name, value in self.probe_headers.items():  # SecurityMiddleware never sees these answers
                response.headers.setdefault(name, value)
            response._has_been_logged = True  # type: ignore[attr-defined]  # django.request skips it: a 503 too
            return response
        start = perf_counter()
        request.request_id = rid = request_id(request)  # type: ignore[attr-defined]
        context = current_request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(context)
        response["X-Request-ID"] = rid
        outcome = getattr(request, "oauth", None)
        if outcome is not None:
            elapsed = perf_counter() - start
            metrics.observe(outcome, elapsed)
            if not outcome.quiet:  # a throttled failure: the block's one log line stands for it
                self.log(request, response, outcome, elapsed)
        return response

    @staticmethod
    def log(request: HttpRequest, response: HttpResponse, outcome: Outcome, elapsed: float) -> None:
        fields = {
            "endpoint": outcome.endpoint,
            "client_id": loggable_client_id(outcome.client_id) if outcome.client_id else None,
            "outcome": outcome.result or "server_error",
            "status": response.status_code,
            "latency_ms": round(elapsed * 1000, 2),
            "request_id": request.request_id,  # type: ignore[attr-defined]
            # the socket's, or a trusted proxy's X-Forwarded-For; worked out once, by the view, when it got that far
            "address": outcome.address or client_address(request),
        }
        reason = metrics.failure_reason(outcome)
        if reason:
            fields["reason"] = reason
        level = logging.ERROR if response.status_code >= 500 else logging.INFO
        if access_log.isEnabledFor(level):
            # makeRecord + handle, not log(): skips the stack walk that finds the caller, which this line never needs.
            access_log.handle(
                access_log.makeRecord(
                    access_log.name, level, __file__, 0, "oauth request", (), None, extra={"fields": fields}
                )
            )
