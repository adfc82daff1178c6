"""Shared bits of the `scope`, `client` and `tokens` commands: typed options, JSON output, one-line errors.

No input ends in a traceback: an option's value is checked by its argparse type (so the error names the option,
`argument --grace: the grace period can be at most 30 days`), and what the services refuse becomes a CommandError
naming the option the refused field came from.
"""

import argparse
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DataError

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
        if minimum is not None and number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {number}")
        return number

    return parse


def text(value: str) -> str:
    """The argparse type of every text argument: no NUL character, which PostgreSQL cannot store."""
    if "\x00" in value:
        raise argparse.ArgumentTypeError("null characters are not allowed")
    return value


def _refuse_null_characters(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _refuse_null_characters(subparser)
        elif action.type is None and action.nargs != 0:
            action.type = text


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
