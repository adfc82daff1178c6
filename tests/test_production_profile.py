"""The production profile: `check --deploy` passes with the documented settings and nothing else, debug off
refuses to start without a secret key or an issuer."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # manage.py in a subprocess, so that settings are read afresh

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3f9-this-is-a-long-random-production-key-for-tests-only-8d7Qp2xLw9Zr4",
    "DJANGO_ALLOWED_HOSTS": "gatehouse.example.com",
    "GATEHOUSE_ISSUER": "https://gatehouse.example.com",
}


def documented_production_settings() -> dict[str, str]:
    """The first block under "## Security settings" in docs/deployment.md: VARIABLE=value lines."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text.split("\n## Security settings\n", 1)[1]
    block = re.search(r"\n\n((?:    \S.*\n)+)", section)
    assert block is not None
    pairs = (line.strip().split("=", 1) for line in block.group(1).splitlines())
    return {name: value.split("  #")[0].strip() for name, value in pairs}


def run(args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_", "REDIS_"))}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_check_deploy_passes_with_the_production_profile():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_fresh_start_with_only_the_documented_settings_passes_check_deploy(tmp_path):
    """Finding 4: with only the documented settings, `check --deploy` warned (gatehouse.W001, per-process counters)."""
    env = documented_production_settings()
    assert set(env) == {"DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "GATEHOUSE_ISSUER", "DATABASE_URL"}
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"  # a fresh database, where docs say PostgreSQL
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_", "DATABASE_", "REDIS_"))}
    for args in (["migrate", "--noinput", "-v0"], ["check", "--deploy", "--fail-level", "WARNING"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_with_debug_on():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **{**PRODUCTION, "DJANGO_DEBUG": "1"})
    assert result.returncode != 0


def test_debug_off_refuses_to_start_without_an_issuer():
    env = {k: v for k, v in PRODUCTION.items() if k != "GATEHOUSE_ISSUER"}
    result = run(["manage.py", "check"], **env)
    assert result.returncode != 0
    assert "GATEHOUSE_ISSUER must be set" in result.stderr


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
