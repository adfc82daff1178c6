"""Shared bits of the `scope`, `client`, `trust` and `tokens` commands: typed options, JSON output, one-line
errors, JWKS files.

No input ends in a traceback: an option's value is checked by its argparse type (so the error names the option,
`argument --grace: the grace period can be at most 30 days`), and what the services refuse becomes a CommandError
naming the option the refused field came from.
"""

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DataError

from clients import jwks
from clients.models import validate_grace


def one_line(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{_option(field)}: {message}" if field != "__all__" else message
            for field, messages in error.message_dict.items()
            for message in messages
        )
    return "; ".join(error.messages)


def _option(field: str) -> str:
    """The command-line option a model field is set by (`token_ttl` -> `--token-ttl`); `name` is positional."""
    return field if field == "name" else "--" + field.replace("_", "-")


def whole(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number within the bounds."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if minimum is not None and maximum is not None and not minimum <= number <= maximum:
            raise argparse.ArgumentTypeError(f"must be between {minimum} and {maximum}")
        if minimum is not None and number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        if maximum is not None and number > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}")
        return number

    return parse


def text(value: str) -> str:
    """The argparse type of every text argument: no NUL character, which PostgreSQL cannot store."""
    if "\x00" in value:
        raise argparse.ArgumentTypeError("null characters are not allowed")
    return value


def _refuse_null_characters(parser: argparse.ArgumentParser) -> None:
    parser.error = _one_line_error(parser)  # type: ignore[assignment]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _refuse_null_characters(subparser)
        elif action.type is None and action.nargs != 0:
            action.type = text


_ARGUMENT = re.compile(r"^argument ([^:/ ]+)(?:/\S+)?: ")


def reword(message: str) -> str:
    """argparse's "argument --token-ttl: must be between 1 and 86400" as "--token-ttl must be between 1 and 86400"
    (and "argument --grace: the grace period..." as "--grace: the grace period...")."""
    match = _ARGUMENT.match(message)
    if match is None:
        return message
    rest = message[match.end() :]
    return f"{match.group(1)} {rest}" if rest.startswith("must ") else f"{match.group(1)}: {rest}"


def _one_line_error(parser: Any) -> Callable[[str], NoReturn]:
    """A bad option is one line, like every other refusal: `CommandError: --token-ttl must be between 1 and 86400`
    on stderr and exit status 2 from a shell; a CommandError with that text from call_command."""

    def error(message: str) -> NoReturn:
        if getattr(parser, "called_from_command_line", False):
            parser.exit(2, f"CommandError: {reword(message)}\n")
        raise CommandError(reword(message))

    return error


def read_jwks(path: str) -> list[jwks.PublicKey]:
    """The validated public keys of a JWKS file (`-` reads stdin); a one-line CommandError otherwise."""
    try:
        if path == "-":
            raw = sys.stdin.read(settings.GATEHOUSE_JWKS_MAX_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                raw = handle.read(settings.GATEHOUSE_JWKS_MAX_BYTES + 1)
        return jwks.parse_jwks(raw)
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None
    except jwks.JWKSError as error:
        raise CommandError(f"{path}: {error}") from None


def grace(value: str) -> timedelta:
    """An argparse type: a grace period in seconds, under the same rule as the portal and the API."""
    try:
        return validate_grace(whole()(value))
    except ValidationError as error:
        raise argparse.ArgumentTypeError(one_line(error)) from None


class GuardedCommand(BaseCommand):
    """A command whose refusals are one-line CommandErrors, never tracebacks."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        _refuse_null_characters(parser)
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ValidationError as error:
            raise CommandError(one_line(error)) from None
        except PermissionDenied as error:  # e.g. a reserved gatehouse: scope name
            raise CommandError(str(error)) from None
        except (ValueError, OverflowError, DataError) as error:  # input the database cannot store
            raise CommandError(f"invalid input: {error}") from None


class SubcommandCommand(GuardedCommand):
    """A command with subcommands (`client create ...`); each maps to a `do_<name>` method."""

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, "do_" + options["action"])(**options)

    def emit_json(self, payload: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(payload, default=str))
