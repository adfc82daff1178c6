"""The production profile: `check --deploy` passes, debug off refuses to start without a secret key."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3f9-this-is-a-long-random-production-key-for-tests-only-8d7Qp2xLw9Zr4",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_ALLOWED_HOSTS": "gatehouse.example.com",
    "GATEHOUSE_CACHE_URL": "database",
}


def run(args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_"))}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_check_deploy_passes_with_the_production_profile():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_the_throttle_store_is_per_process():
    env = {k: v for k, v in PRODUCTION.items() if k != "GATEHOUSE_CACHE_URL"}
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **env)
    assert result.returncode != 0
    assert "gatehouse.W001" in result.stderr


def test_check_deploy_fails_with_debug_on():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **{**PRODUCTION, "DJANGO_DEBUG": "1"})
    assert result.returncode != 0


def test_debug_off_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_SECRET_KEY"}
    result = run(["manage.py", "check"], **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_settings_harden_cookies_transport_and_framing():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({"
        "n: getattr(s, n) for n in ['DEBUG', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', "
        "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
        "'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_HTTPONLY', 'SECURE_CONTENT_TYPE_NOSNIFF', 'X_FRAME_OPTIONS', "
        "'SECURE_PROXY_SSL_HEADER']}))"
    )
    result = run(["-c", code], DJANGO_SETTINGS_MODULE="config.settings", DJANGO_BEHIND_PROXY="1", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


def test_bad_security_settings_fail_loudly():
    result = run(["manage.py", "check"], **PRODUCTION, GATEHOUSE_TRUSTED_PROXIES="10.0.0.0/33")
    assert result.returncode != 0
    assert "GATEHOUSE_TRUSTED_PROXIES" in result.stderr
