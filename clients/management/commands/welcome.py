"""`python manage.py welcome`: printed by `make serve` to show a newcomer how to register a first client."""

from typing import Any

from clients.management.commands._cli import GuardedCommand
from clients.models import Client

TEXT = """
Gatehouse is starting at {url} ({clients} client(s) registered).

Register a first client and get a token:

  .venv/bin/python manage.py scope create orders.read --description "Read orders"
  .venv/bin/python manage.py client create billing-job --scope orders.read --json
  curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials {url}/oauth/token

Staff portal: {url}/admin/ (create a login with: .venv/bin/python manage.py createsuperuser)
Discovery:    {url}/.well-known/oauth-authorization-server
"""


class Command(GuardedCommand):
    help = "Print how to register a first client."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, url: str, **options: Any) -> None:
        self.stdout.write(TEXT.format(url=url.rstrip("/"), clients=Client.objects.count()))
