"""`python manage.py tokens purge [--every SECONDS]` and `tokens revoke TOKEN_ID`: token housekeeping."""

import signal
import time
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from clients.management.commands._cli import SubcommandCommand, whole
from clients.services import Actor
from tokens import throttle
from tokens.models import AccessToken
from tokens.services import token_revoke


class Command(SubcommandCommand):
    help = "Token housekeeping."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        purge = sub.add_parser(
            "purge", help="Delete expired and revoked tokens (in batches) and expired failure counters."
        )
        purge.add_argument("--batch-size", type=whole(1), default=5000, metavar="ROWS")
        purge.add_argument(
            "--every",
            type=whole(1),
            default=None,
            metavar="SECONDS",
            help="Run again every SECONDS seconds, until stopped.",
        )
        revoke = sub.add_parser("revoke", help="Revoke one live token by the id `client tokens` shows.")
        revoke.add_argument("token_id", type=whole(1), metavar="TOKEN_ID")

    def do_purge(self, batch_size: int, every: int | None, **_: Any) -> None:
        if every is None:
            self._purge(batch_size)
            return
        # Long-running: SIGTERM (docker stop, systemd) stops it like Ctrl-C, between batches or inside one (whose
        # transaction rolls back; the next run deletes those rows).
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                self._purge(batch_size)
                self.stdout.flush()
                time.sleep(every)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _purge(self, batch_size: int) -> None:
        total = AccessToken.objects.purge(now=timezone.now(), batch_size=batch_size)
        self.stdout.write(f"purged {total} tokens")
        self.stdout.write(f"purged {AccessToken.objects.purge_used_assertions(now=timezone.now())} used assertion ids")
        self.stdout.write(f"purged {throttle.purge()} failure counters")

    def do_revoke(self, token_id: int, **_: Any) -> None:
        try:
            revoked = token_revoke(token_id=token_id, actor=Actor.cli())
        except AccessToken.DoesNotExist:
            raise CommandError(f"unknown token: {token_id}") from None
        self.stdout.write(f"revoked token {token_id}" if revoked else f"token {token_id} was not live; nothing changed")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
