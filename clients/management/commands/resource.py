"""`python manage.py resource create|list|show|update|retire ...`: resource servers (RFC 8707) on the command line."""

from typing import Any

from django.core.management.base import CommandError
from django.db.models import Count, Q

from clients.management.commands._cli import SubcommandCommand
from clients.models import ResourceServer
from clients.services import Actor, resource_server_create, resource_server_retire, resource_server_update


def describe(resource_server: ResourceServer) -> dict[str, Any]:
    """A resource server as the CLI shows it: its record, its scopes and the clients that introspect for it."""
    return {
        "identifier": resource_server.identifier,
        "name": resource_server.name,
        "description": resource_server.description,
        "owner": resource_server.owner,
        "status": "active" if resource_server.is_active else "retired",
        "created_at": resource_server.created_at.isoformat(),
        "retired_at": resource_server.retired_at.isoformat() if resource_server.retired_at else None,
        "scopes": sorted(scope.name for scope in resource_server.scopes.all()),
        "introspectors": sorted(client.client_id for client in resource_server.introspectors.all()),
    }


def find(identifier: str) -> ResourceServer:
    try:
        return ResourceServer.objects.get(identifier=identifier)
    except ResourceServer.DoesNotExist:
        raise CommandError(f"unknown resource server: {identifier[:255]}") from None


class Command(SubcommandCommand):
    help = "Register and manage resource servers (the APIs tokens are for, RFC 8707)."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Register a resource server.")
        create.add_argument("identifier", help="An absolute URI without a fragment, e.g. https://orders.example.com.")
        create.add_argument("--name", required=True)
        create.add_argument("--description", default="")
        create.add_argument("--owner", default="")
        create.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="List resource servers.")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="Show one resource server, its scopes and introspecting clients.")
        show.add_argument("identifier")
        show.add_argument("--json", action="store_true")
        update = sub.add_parser("update", help="Change a resource server's name, description or owner.")
        update.add_argument("identifier")
        update.add_argument("--name")
        update.add_argument("--description")
        update.add_argument("--owner")
        retire = sub.add_parser("retire", help="Retire a resource server no client holds a scope of.")
        retire.add_argument("identifier")

    def do_create(self, identifier: str, name: str, description: str, owner: str, json: bool, **_: Any) -> None:
        created = resource_server_create(
            identifier=identifier, name=name, description=description, owner=owner, actor=Actor.cli()
        )
        if json:
            self.emit_json(describe(created))
            return
        self.stdout.write(f"created resource server {created.identifier}")

    def do_list(self, json: bool, **_: Any) -> None:
        servers = (
            ResourceServer.objects.annotate(
                n_scopes=Count("scopes", distinct=True),
                n_introspectors=Count("introspectors", distinct=True, filter=Q(introspectors__is_active=True)),
            )
            .prefetch_related("scopes", "introspectors")
            .order_by("identifier")
        )  # Meta.ordering is not applied with GROUP BY
        if json:
            self.emit_json({"resource_servers": [describe(s) for s in servers]})
            return
        for s in servers:
            status = "active" if s.is_active else "retired"
            self.stdout.write(
                f"{s.identifier:<40} {status:<8} {s.n_scopes:>3} scopes {s.n_introspectors:>3} introspectors  {s.name}"
            )

    def do_show(self, identifier: str, json: bool, **_: Any) -> None:
        data = describe(find(identifier))
        if json:
            self.emit_json(data)
            return
        for key, value in data.items():
            self.stdout.write(f"{key}: {' '.join(value) if isinstance(value, list) else value}")

    def do_update(self, identifier: str, **options: Any) -> None:
        fields = {name: options[name] for name in ("name", "description", "owner") if options.get(name) is not None}
        if not fields:
            raise CommandError("nothing to change: give --name, --description or --owner")
        resource_server_update(resource_server=find(identifier), actor=Actor.cli(), **fields)
        self.stdout.write(f"updated resource server {identifier}")

    def do_retire(self, identifier: str, **_: Any) -> None:
        resource_server_retire(resource_server=find(identifier), actor=Actor.cli())
        self.stdout.write(f"retired resource server {identifier}; no token names it any more")
