"""The admin login locks an address out after repeated failures (django-axes); the admin path is configurable."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def staff(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed: not under test here
    return get_user_model().objects.create_superuser("root", "root@example.com", "correct horse battery")


def login(client, password, address="192.0.2.10"):
    return client.post("/admin/login/?next=/admin/", {"username": "root", "password": password}, REMOTE_ADDR=address)


def test_admin_login_works_with_the_right_password(client, staff):
    assert login(client, "correct horse battery").status_code == 302


def test_admin_login_locks_out_after_repeated_failures(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "wrong").status_code == 200  # the form again, with an error
    assert login(client, "wrong").status_code == 429
    locked = login(client, "correct horse battery")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_admin_lockout_of_one_address_leaves_other_users_elsewhere_alone(client, staff, settings):
    get_user_model().objects.create_superuser("alice", "alice@example.com", "another long passphrase")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "wrong")
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "alice", "password": "another long passphrase"},
        REMOTE_ADDR="192.0.2.99",
    )
    assert response.status_code == 302


def test_guesses_spread_over_addresses_lock_the_username_out(client, staff):
    """Finding 8: 40 wrong passwords for `root` from 10 addresses (4 each, under the per-address limit), then the
    right one logged in."""
    for n in range(40):
        login(client, "wrong", address=f"198.51.100.{n % 10}")
    locked = login(client, "correct horse battery", address="203.0.113.77")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_admin_lockout_counts_in_the_database(client, staff, settings):
    from axes.models import AccessAttempt

    login(client, "wrong")
    assert AccessAttempt.objects.get(ip_address="192.0.2.10").failures_since_start == 1


@pytest.mark.slow  # a subprocess
def test_admin_is_served_at_the_configured_path():
    code = (
        "import django; django.setup(); from django.urls import reverse; from django.test import Client; "
        "print(reverse('admin:index'), Client().get('/admin/').status_code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "GATEHOUSE_ADMIN_PATH": "staff-7f3k",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/staff-7f3k/", "404"]
