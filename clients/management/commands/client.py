"""`python manage.py client create|rotate|disable|enable|list|show ...`: the command-line face of the services."""

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from clients import credentials
from clients.limits import MAX_TOKEN_TTL
from clients.management.commands._cli import SubcommandCommand, grace, whole
from clients.management.commands.resource import find as find_resource
from clients.models import Client
from clients.services import Actor, client_create, client_disable, client_enable, client_rotate_secret


def describe(client: Client) -> dict[str, Any]:
    """A client as the CLI and docs show it: metadata and secret metadata, never a secret."""
    now = timezone.now()
    return {
        "client_id": client.client_id,
        "name": client.name,
        "description": client.description,
        "scopes": client.scope_names(),
        "can_introspect": client.can_introspect,
        "resource": client.resource_server.identifier if client.resource_server else None,
        "token_ttl": client.token_ttl,
        "is_active": client.is_active,
        "created_at": client.created_at.isoformat(),
        "secrets": [
            {
                "hint": s.hint,
                "state": s.state(now).value,
                "created_at": s.created_at.isoformat(),
                "created_by": s.created_by,
                "valid_until": s.valid_until.isoformat() if s.valid_until else None,
            }
            for s in client.secrets.all()
        ],
    }


class Command(SubcommandCommand):
    help = "Register and manage OAuth clients."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Register a client and print its first secret (once).")
        create.add_argument("name")
        create.add_argument("--description", default="")
        create.add_argument("--scope", action="append", default=[], dest="scopes", metavar="SCOPE")
        create.add_argument("--introspect", action="store_true", help="May call the introspection endpoint.")
        create.add_argument(
            "--resource",
            metavar="IDENTIFIER",
            help="With --introspect: the resource server it introspects for (without: a global introspector).",
        )
        create.add_argument("--token-ttl", type=whole(1, MAX_TOKEN_TTL), default=None, metavar="SECONDS")
        create.add_argument("--json", action="store_true")
        rotate = sub.add_parser("rotate", help="Issue a new secret; current ones end after the grace period.")
        rotate.add_argument("client_id")
        rotate.add_argument("--grace", type=grace, default=timedelta(0), metavar="SECONDS")
        rotate.add_argument("--revoke-tokens", action="store_true", help="Also end every live token of the client now.")
        rotate.add_argument("--json", action="store_true")
        for name, text in (
            ("disable", "Disable a client and end its live tokens."),
            ("enable", "Enable a client (its old tokens stay dead)."),
        ):
            sub.add_parser(name, help=text).add_argument("client_id")
        listing = sub.add_parser("list", help="List clients.")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="Show one client and its secret history.")
        show.add_argument("client_id")
        show.add_argument("--json", action="store_true")

    def _client(self, client_id: str) -> Client:
        try:
            return Client.objects.get(client_id=client_id)
        except Client.DoesNotExist:
            # Echo it only if it looks like a client id: a secret pasted by mistake must not reach a terminal log.
            leaked = credentials.CLIENT_SECRET_PREFIX in client_id or credentials.ACCESS_TOKEN_PREFIX in client_id
            shown = "(a secret or token, not shown)" if leaked else client_id
            raise CommandError(f"unknown client: {shown}") from None

    def do_create(
        self,
        name: str,
        description: str,
        scopes: list[str],
        introspect: bool,
        resource: str | None,
        token_ttl: int | None,
        json: bool,
        **_: Any,
    ) -> None:
        if resource is not None and not introspect:
            raise CommandError(
                "--resource names the resource server an introspecting client speaks for: add --introspect"
            )
        new = client_create(
            name=name,
            description=description,
            scopes=scopes,
            can_introspect=introspect,
            resource_server=find_resource(resource) if resource is not None else None,
            token_ttl=token_ttl,
            actor=Actor.cli(),
        )
        payload = {
            "client_id": new.client.client_id,
            "client_secret": new.plaintext,
            "name": new.client.name,
            "scopes": new.client.scope_names(),
            "can_introspect": new.client.can_introspect,
            "resource": new.client.resource_server.identifier if new.client.resource_server else None,
            "token_ttl": new.client.token_ttl,
        }
        if json:
            self.emit_json(payload)
            return
        self.stdout.write(f"client_id:     {payload['client_id']}")
        self.stdout.write(f"client_secret: {payload['client_secret']}")
        self.stdout.write("Store the secret now: it is not kept and cannot be shown again.")

    def do_rotate(self, client_id: str, grace: timedelta, revoke_tokens: bool, json: bool, **_: Any) -> None:
        new = client_rotate_secret(
            client=self._client(client_id),
            grace=grace,
            revoke_tokens=revoke_tokens,
            actor=Actor.cli(),
        )
        expires = new.previous_secret_expires_at.isoformat() if new.previous_secret_expires_at else None
        if json:
            self.emit_json(
                {
                    "client_id": client_id,
                    "client_secret": new.plaintext,
                    "previous_secret_expires_at": expires,
                    "tokens_revoked": new.tokens_revoked,
                }
            )
            return
        self.stdout.write(f"client_secret: {new.plaintext}")
        self.stdout.write(f"previous secret(s) valid until: {expires or 'no previous secret was valid'}")
        if revoke_tokens:
            self.stdout.write(f"live tokens revoked: {new.tokens_revoked}")
        self.stdout.write("Store the secret now: it is not kept and cannot be shown again.")

    def do_disable(self, client_id: str, **_: Any) -> None:
        client_disable(client=self._client(client_id), actor=Actor.cli())
        self.stdout.write(f"disabled {client_id}; its tokens are revoked")

    def do_enable(self, client_id: str, **_: Any) -> None:
        client_enable(client=self._client(client_id), actor=Actor.cli())
        self.stdout.write(f"enabled {client_id}")

    def do_list(self, json: bool, **_: Any) -> None:
        clients = Client.objects.select_related("resource_server").prefetch_related("scopes", "secrets")
        if json:
            self.emit_json({"clients": [describe(c) for c in clients]})
            return
        for c in clients:
            status = "active" if c.is_active else "disabled"
            self.stdout.write(f"{c.client_id}  {status:<8}  {c.name}  [{' '.join(c.scope_names())}]")

    def do_show(self, client_id: str, json: bool, **_: Any) -> None:
        data = describe(self._client(client_id))
        if json:
            self.emit_json(data)
            return
        for key, value in data.items():
            if key != "secrets":
                self.stdout.write(f"{key}: {value}")
        self.stdout.write("secrets:")
        for s in data["secrets"]:
            self.stdout.write(
                f"  {s['hint']}  {s['state']:<9} created {s['created_at']} by {s['created_by']}"
                f"  valid until {s['valid_until'] or 'rotated'}"
            )
