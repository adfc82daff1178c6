"""Shared bits of the `scope` and `client` commands: JSON output and one-line errors."""

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError


def one_line(error: ValidationError) -> str:
    return "; ".join(error.messages)


class SubcommandCommand(BaseCommand):
    """A command with subcommands (`client create ...`); each maps to a `do_<name>` method."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ValidationError as error:
            raise CommandError(one_line(error)) from None
        except PermissionDenied as error:  # e.g. a reserved gatehouse: scope name
            raise CommandError(str(error)) from None

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, "do_" + options["action"])(**options)

    def emit_json(self, payload: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(payload, default=str))
