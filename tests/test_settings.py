"""Settings read from the environment fail loudly on bad or missing values."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # manage.py in a subprocess, so that settings are read afresh


def check(**env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_"))}
    full.update(env)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=full, capture_output=True, text=True)


def test_an_issuer_that_is_not_an_http_url_is_refused():
    done = check(GATEHOUSE_ISSUER="auth.example.com")
    assert done.returncode != 0
    assert "GATEHOUSE_ISSUER must be an https:// (or http://) URL" in done.stderr


def test_bad_token_ttl_is_refused():
    done = check(GATEHOUSE_DEFAULT_TOKEN_TTL="forever")
    assert done.returncode != 0
    assert "GATEHOUSE_DEFAULT_TOKEN_TTL must be a whole number" in done.stderr


def test_defaults_start_for_local_use():
    assert check().returncode == 0


def test_portal_session_lifetimes_come_from_the_environment():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.GATEHOUSE_SESSION_IDLE_SECONDS, s.GATEHOUSE_SESSION_MAX_SECONDS, s.GATEHOUSE_SUDO_SECONDS)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        GATEHOUSE_SESSION_IDLE_MINUTES="15",
        GATEHOUSE_SESSION_MAX_HOURS="8",
        GATEHOUSE_SUDO_MINUTES="5",
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["900", "28800", "300"], done.stderr
    assert check(GATEHOUSE_SESSION_IDLE_MINUTES="0").returncode != 0
