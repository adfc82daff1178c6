"""Issuance history survives `tokens purge`: the purge folds the rows it deletes into hourly counters first."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from tests.factories import AccessTokenFactory, ClientFactory, ClientSecretFactory
from tokens.models import AccessToken, IssuanceCount
from tokens.usage import daily_issuance, issued_since, secret_usage

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def issue(client, at: datetime, secret=None, **kwargs) -> AccessToken:
    return AccessTokenFactory(
        client=client,
        secret=secret or client.secrets.first(),
        issued_at=epoch(at),
        expires_at=epoch(at) + 600,
        **kwargs,
    )


def test_purging_does_not_change_issued_counts_the_chart_or_last_use():
    client = ClientFactory()
    current = client.secrets.get()
    older = ClientSecretFactory(client=client, valid_until=NOW)
    for hours_ago in (1, 2, 2, 30, 50, 200):
        issue(client, NOW - timedelta(hours=hours_ago), secret=current)
    issue(client, NOW - timedelta(hours=3), secret=older)
    issue(client, NOW - timedelta(minutes=1), secret=current)  # live, never purged
    before = (
        issued_since(client, NOW - timedelta(hours=24)),
        daily_issuance(client, NOW),
        secret_usage(list(client.secrets.all()), NOW),
    )
    assert before[0] == 5
    assert [d.count for d in before[1]] == [0, 0, 0, 0, 1, 1, 5]  # 200 h ago is outside the 7 days
    assert AccessToken.objects.purge(now=NOW, batch_size=3) == 7
    assert AccessToken.objects.count() == 1
    after = (
        issued_since(client, NOW - timedelta(hours=24)),
        daily_issuance(client, NOW),
        secret_usage(list(client.secrets.all()), NOW),
    )
    assert after == before
    usage = after[2]
    assert usage[older.pk].issued_24h == 1 and usage[older.pk].last_used == NOW - timedelta(hours=3)


def test_counters_add_up_across_purges_of_the_same_hour():
    client = ClientFactory()
    issue(client, NOW - timedelta(hours=2))
    AccessToken.objects.purge(now=NOW)
    issue(client, NOW - timedelta(hours=2, minutes=5))
    AccessToken.objects.purge(now=NOW)
    assert IssuanceCount.objects.get().count == 2
    assert issued_since(client, NOW - timedelta(hours=24)) == 2


def test_revoked_tokens_are_counted_as_issued():
    client = ClientFactory()
    issue(client, NOW - timedelta(minutes=5), revoked_at=epoch(NOW))
    AccessToken.objects.purge(now=NOW)
    assert issued_since(client, NOW - timedelta(hours=1)) == 1


def test_the_token_request_writes_no_counter(oauth, django_assert_num_queries):
    client = ClientFactory()
    with django_assert_num_queries(1):
        assert oauth.token(client).status_code == 200
    assert not IssuanceCount.objects.exists()


def test_purge_every_runs_again_until_stopped_and_stops_quietly():
    client = ClientFactory()
    issue(client, NOW - timedelta(hours=2))
    out = StringIO()
    with mock.patch("tokens.management.commands.tokens.time.sleep", side_effect=[None, KeyboardInterrupt]) as sleep:
        call_command("tokens", "purge", "--every", "300", stdout=out)
    assert [c.args for c in sleep.call_args_list] == [(300,), (300,)]
    assert out.getvalue() == (
        "purged 1 tokens\npurged 0 used assertion ids\npurged 0 failure counters\n"
        "purged 0 tokens\npurged 0 used assertion ids\npurged 0 failure counters\nstopped\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "0"], "--every must be at least 1"),
        (["--every", "soon"], "--every: expected a whole number, got 'soon'"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_purge_options_are_checked(args, message):
    with pytest.raises(CommandError) as refused:
        call_command("tokens", "purge", *args, stdout=StringIO())
    assert str(refused.value) == message


@pytest.mark.slow  # a subprocess
def test_purge_every_stops_on_sigterm_without_a_traceback(tmp_path):
    """As `docker stop` or systemd stop it: a real process, signalled while it waits for its next run."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'purge.sqlite3'}", "PYTHONUNBUFFERED": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "tokens", "purge", "--every", "3600"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "purged 0 tokens\n"  # blocks until the first run is done: no sleeping here
    assert proc.stdout.readline() == "purged 0 used assertion ids\n"
    assert proc.stdout.readline() == "purged 0 failure counters\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (0, "stopped\n", "")
