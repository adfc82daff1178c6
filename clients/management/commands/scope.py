"""`python manage.py scope create NAME [--description TEXT] [--resource IDENTIFIER]`, `scope update NAME ...` and
`scope list [--json]`."""

from typing import Any

from django.core.management.base import CommandError
from django.db.models import Count

from clients.management.commands._cli import SubcommandCommand
from clients.management.commands.resource import find as find_resource
from clients.models import Scope
from clients.services import KEEP, Actor, scope_create, scope_update


class Command(SubcommandCommand):
    help = "Manage the scope catalogue."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Add a scope to the catalogue.")
        create.add_argument("name")
        create.add_argument("--description", default="")
        create.add_argument(
            "--resource", metavar="IDENTIFIER", help="The resource server it belongs to (default: global)."
        )
        update = sub.add_parser(
            "update", help="Change a scope's description, or move it to a resource server (ends its holders' tokens)."
        )
        update.add_argument("name")
        update.add_argument("--description")
        where = update.add_mutually_exclusive_group()
        where.add_argument("--resource", metavar="IDENTIFIER", help="Move it to this resource server.")
        where.add_argument("--global", action="store_true", dest="make_global", help="Make it global.")
        listing = sub.add_parser("list", help="List the scope catalogue.")
        listing.add_argument("--json", action="store_true")

    def do_create(self, name: str, description: str, resource: str | None, **_: Any) -> None:
        owner = find_resource(resource) if resource is not None else None
        scope = scope_create(name=name, description=description, resource_server=owner, actor=Actor.cli())
        self.stdout.write(f"created scope {scope.name}" + (f" of {owner.identifier}" if owner else ""))

    def do_update(self, name: str, description: str | None, resource: str | None, make_global: bool, **_: Any) -> None:
        try:
            scope = Scope.objects.get(name=name)
        except Scope.DoesNotExist:
            raise CommandError(f"unknown scope: {name[:128]}") from None
        target = find_resource(resource) if resource is not None else None if make_global else KEEP
        if description is None and target is KEEP:
            raise CommandError("nothing to change: give --description, --resource or --global")
        scope_update(scope=scope, description=description, resource_server=target, actor=Actor.cli())
        self.stdout.write(f"updated scope {name}")

    def do_list(self, json: bool, **_: Any) -> None:
        scopes = [
            {
                "name": s.name,
                "description": s.description,
                "resource": s.resource_server.identifier if s.resource_server else None,
                "clients": s.n_clients,
            }
            for s in Scope.objects.select_related("resource_server").annotate(n_clients=Count("clients"))
        ]
        if json:
            self.emit_json({"scopes": scopes})
            return
        for s in scopes:
            where = s["resource"] or "(global)"
            clients = f"{s['clients']:>4} client{'' if s['clients'] == 1 else 's'}"
            self.stdout.write(f"{s['name']:<40} {where:<32} {clients:<12} {s['description']}".rstrip())
