"""`python manage.py tokens purge`: delete expired and revoked tokens in small batches, and the throttle's
expired failure counters."""

from typing import Any

from django.utils import timezone

from clients.management.commands._cli import GuardedCommand, whole
from tokens import throttle
from tokens.models import AccessToken


class Command(GuardedCommand):
    help = "Token housekeeping."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        purge = sub.add_parser(
            "purge", help="Delete expired and revoked tokens (in batches) and expired failure counters."
        )
        purge.add_argument("--batch-size", type=whole(1), default=5000)

    def handle(self, *args: Any, action: str, batch_size: int, **options: Any) -> None:
        total = AccessToken.objects.purge(now=timezone.now(), batch_size=batch_size)
        self.stdout.write(f"purged {total} tokens")
        self.stdout.write(f"purged {AccessToken.objects.purge_used_assertions(now=timezone.now())} used assertion ids")
        self.stdout.write(f"purged {throttle.purge()} failure counters")
