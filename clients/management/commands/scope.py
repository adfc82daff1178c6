"""`python manage.py scope create NAME [--description TEXT]` and `scope list [--json]`."""

from typing import Any

from django.db.models import Count

from clients.management.commands._cli import SubcommandCommand
from clients.models import Scope
from clients.services import Actor, scope_create


class Command(SubcommandCommand):
    help = "Manage the scope catalogue."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Add a scope to the catalogue.")
        create.add_argument("name")
        create.add_argument("--description", default="")
        listing = sub.add_parser("list", help="List the scope catalogue.")
        listing.add_argument("--json", action="store_true")

    def do_create(self, name: str, description: str, **_: Any) -> None:
        scope = scope_create(name=name, description=description, actor=Actor.cli())
        self.stdout.write(f"created scope {scope.name}")

    def do_list(self, json: bool, **_: Any) -> None:
        scopes = [
            {"name": s.name, "description": s.description, "clients": s.n_clients}
            for s in Scope.objects.annotate(n_clients=Count("clients"))
        ]
        if json:
            self.emit_json({"scopes": scopes})
            return
        for s in scopes:
            clients = f"{s['clients']:>4} client{'' if s['clients'] == 1 else 's'}"
            self.stdout.write(f"{s['name']:<40} {clients:<12} {s['description']}".rstrip())
