"""No input to a management command ends in a traceback: a one-line error naming the option at fault."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from clients.models import Client
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--grace", "999999999999"], "argument --grace: the grace period can be at most 30 days"),
        (["--grace", "99999999999999999999999999"], "argument --grace: the grace period can be at most 30 days"),
        (["--grace", "-1"], "argument --grace: the grace period cannot be negative"),
        (["--grace", "soon"], "argument --grace: expected a whole number, got 'soon'"),
    ],
)
def test_rotate_refuses_a_bad_grace_naming_the_option(args, says):
    client = ClientFactory()
    with pytest.raises(CommandError, match=says):
        run("client", "rotate", client.client_id, *args)
    assert client.secrets.count() == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["job", "--token-ttl", "99999999999999999999"], "argument --token-ttl: must be at most 86400"),
        (["job", "--token-ttl", "0"], "argument --token-ttl: must be at least 1"),
        (["x" * 201], "name: Ensure this value has at most 200 characters"),
        (["job\x00"], "argument name: null characters are not allowed"),
        (["job", "--description", "a\x00b"], "argument --description: null characters are not allowed"),
        (["job", "--scope", "read\x00"], "argument --scope: null characters are not allowed"),
    ],
)
def test_create_refuses_bad_input_naming_the_option(args, says):
    with pytest.raises(CommandError, match=says):
        run("client", "create", *args)
    assert not Client.objects.exists()


def test_the_grace_limit_is_a_setting_that_every_surface_reads(settings):
    settings.GATEHOUSE_MAX_GRACE_SECONDS = 3600
    client = ClientFactory()
    with pytest.raises(CommandError, match="argument --grace: the grace period can be at most 1 hour"):
        run("client", "rotate", client.client_id, "--grace", "3601")
    run("client", "rotate", client.client_id, "--grace", "3600")


@pytest.mark.parametrize("size", ["0", "-5", "many"])
def test_purge_refuses_a_batch_size_that_is_not_a_positive_number(size):
    with pytest.raises(CommandError, match="argument --batch-size"):
        run("tokens", "purge", "--batch-size", size)


def test_text_the_database_cannot_store_is_refused_naming_the_argument():
    """PostgreSQL cannot store a NUL character: it was a DataError traceback there (seen failing on PostgreSQL)."""
    with pytest.raises(CommandError, match="argument name: null characters are not allowed"):
        run("scope", "create", "orders\x00read")
