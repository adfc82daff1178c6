"""A Kubernetes- or GitHub-Actions-like token issuer on loopback: its own key, its JWKS and OIDC discovery served
over HTTP from a thread, and tokens it signs. Tests switch on GATEHOUSE_JWKS_ALLOW_LOOPBACK to reach it.

    with LocalIssuer() as issuer:
        issuer.url, issuer.jwks_uri, issuer.token(sub=..., aud=...)
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests import jose


class LocalIssuer:
    def __init__(self, key: jose.Key | None = None, *, issuer: str | None = None) -> None:
        self.key = key or jose.ec_key("issuer-key-1")
        self.hits: list[str] = []
        self.stall = threading.Event()  # while clear and `slow` is set, requests hang (a slow jwks_uri)
        self.slow = False
        self.redirect_to = ""  # when set, /jwks answers 302 there
        self.body_override: bytes | None = None  # when set, /jwks answers these bytes
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                owner.hits.append(self.path)
                if owner.slow:
                    owner.stall.wait(10)
                if self.path == "/jwks" and owner.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", owner.redirect_to)
                    self.end_headers()
                    return
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps({"issuer": owner.issuer, "jwks_uri": owner.jwks_uri}).encode()
                elif self.path == "/jwks":
                    body = owner.body_override or json.dumps(jose.public_jwks(owner.key)).encode()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = issuer or self.url
        self.jwks_uri = self.url + "/jwks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalIssuer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stall.set()
        self.server.shutdown()
        self.server.server_close()

    def token(self, *, sub: str, aud: str | list[str], lifetime: int = 3600, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "sub": sub, "aud": aud, "iat": now, "nbf": now, "exp": now + lifetime}
        payload.update(claims)
        return jose.sign(self.key, {k: v for k, v in payload.items() if v is not None})


def kubernetes_claims(namespace: str, account: str) -> dict[str, Any]:
    """What a projected service-account token carries besides iss/sub/aud/exp (Kubernetes 1.30)."""
    return {
        "jti": secrets.token_hex(16),
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": account, "uid": secrets.token_hex(8)},
            "pod": {"name": f"{account}-7d9f8", "uid": secrets.token_hex(8)},
        },
    }


def github_actions_claims(repository: str, ref: str) -> dict[str, Any]:
    """What a GitHub Actions OIDC token carries besides iss/sub/aud/exp."""
    return {
        "jti": secrets.token_hex(16),
        "repository": repository,
        "ref": ref,
        "workflow": "deploy",
        "run_id": str(secrets.randbelow(10**9)),
        "event_name": "push",
    }
