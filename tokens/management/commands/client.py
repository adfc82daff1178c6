"""`python manage.py client create|update|rotate|switch|keys|key|disable|enable|list|show|tokens ...`: the command-line face of the
registry's services.

It lives in `tokens` (above the registry) because it also reports what tokens tell: each secret's last use and
a client's live tokens.
"""

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from clients import credentials
from clients.limits import MAX_TOKEN_TTL
from clients.management.commands._cli import SubcommandCommand, grace, read_jwks, whole
from clients.management.commands.resource import find as find_resource
from clients.models import AuditEvent, Client, ClientKey, Trust
from clients.services import (
    SECRET,
    Actor,
    Credential,
    client_create,
    client_disable,
    client_enable,
    client_key_add,
    client_key_retire,
    client_rotate_secret,
    client_switch_auth,
    client_update,
)
from tokens.usage import describe_token, live_tokens, secret_usage


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment else None


def credential_from(options: dict[str, Any]) -> Credential:
    """The credential named by --jwks, --jwks-uri or --trust/--subject (a secret when none is given)."""
    trust = None
    if options.get("trust"):
        try:
            trust = Trust.objects.get(name=options["trust"])
        except Trust.DoesNotExist:
            raise CommandError(f"unknown trust: {options['trust']}") from None
    if bool(options.get("trust")) != bool(options.get("subject")):
        raise CommandError("--trust and --subject go together")
    given = [bool(options.get("jwks")), bool(options.get("jwks_uri")), trust is not None]
    if sum(given) > 1:
        raise CommandError("give one of --jwks, --jwks-uri or --trust/--subject")
    if not any(given):
        return SECRET
    return Credential(
        keys=read_jwks(options["jwks"]) if options.get("jwks") else None,
        jwks_uri=options.get("jwks_uri") or "",
        trust=trust,
        subject=options.get("subject") or "",
    )


def describe_key(key: ClientKey) -> dict[str, Any]:
    last = key.last_used()
    return {
        "kid": key.kid,
        "kty": key.kty,
        "alg": key.alg or None,
        "thumbprint": key.thumbprint,
        "state": key.state,
        "created_at": key.created_at.isoformat(),
        "created_by": key.created_by,
        "retired_at": _iso(key.retired_at),
        "last_used_at": _iso(last),
    }


def describe(client: Client) -> dict[str, Any]:
    """A client as the CLI and docs show it: metadata and secret metadata, never a secret."""
    now = timezone.now()
    secrets = list(client.secrets.all())
    usage = secret_usage(secrets, now)
    return {
        "client_id": client.client_id,
        "name": client.name,
        "description": client.description,
        "owner": client.owner,
        "contact": client.contact,
        "scopes": client.scope_names(),
        "can_introspect": client.can_introspect,
        "resource": client.resource_server.identifier if client.resource_server else None,
        "token_ttl": client.token_ttl,
        "is_active": client.is_active,
        "auth_method": client.auth_method,
        "jwks_uri": client.jwks_uri or None,
        "trust": client.trust.name if client.trust else None,
        "subject": client.subject or None,
        "keys": [describe_key(k) for k in client.keys.all()],
        "created_at": client.created_at.isoformat(),
        "secrets": [
            {
                "hint": s.hint,
                "state": s.state(now).value,
                "created_at": s.created_at.isoformat(),
                "created_by": s.created_by,
                "valid_until": _iso(s.valid_until),
                "last_used_at": _iso(usage[s.pk].last_used),
                "tokens_last_24h": usage[s.pk].issued_24h,
            }
            for s in secrets
        ],
    }


def _word(value: Any) -> str:
    """A value as a person reads it: scopes as words, yes/no, '-' for nothing."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " ".join(value) or "-"
    return str(value) if value != "" else "-"


def table(rows: list[list[str]]) -> list[str]:
    """Rows as lines with every column but the last padded to its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip() for row in rows
    ]


class Command(SubcommandCommand):
    help = "Register and manage OAuth clients."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Register a client and print its first secret (once).")
        create.add_argument("name")
        create.add_argument("--description", default="")
        create.add_argument("--owner", default="", metavar="TEXT", help="The team or person responsible for it.")
        create.add_argument("--contact", default="", metavar="TEXT", help="An email address or an http(s) URL.")
        create.add_argument("--scope", action="append", default=[], dest="scopes", metavar="SCOPE")
        create.add_argument("--introspect", action="store_true", help="May call the introspection endpoint.")
        create.add_argument(
            "--resource",
            metavar="IDENTIFIER",
            help="With --introspect: the resource server it introspects for (without: a global introspector).",
        )
        create.add_argument("--token-ttl", type=whole(1, MAX_TOKEN_TTL), default=None, metavar="SECONDS")
        self.add_credential_arguments(create)
        create.add_argument("--json", action="store_true")
        switch = sub.add_parser(
            "switch", help="Change how a client authenticates (ends its live tokens and old credentials)."
        )
        switch.add_argument("client_id")
        switch.add_argument("--secret", action="store_true", help="Back to a client secret (printed once).")
        self.add_credential_arguments(switch)
        switch.add_argument("--json", action="store_true")
        keys = sub.add_parser("keys", help="List a private_key_jwt client's keys, active and retired.")
        keys.add_argument("client_id")
        keys.add_argument("--json", action="store_true")
        key = sub.add_parser("key", help="Add or retire a private_key_jwt client's public keys.")
        key_sub = key.add_subparsers(dest="key_action", required=True)
        key_add = key_sub.add_parser("add", help="Register the public keys of a JWKS file.")
        key_add.add_argument("client_id")
        key_add.add_argument("--jwks", required=True, metavar="FILE")
        key_add.add_argument("--json", action="store_true")
        key_retire = key_sub.add_parser("retire", help="Retire a key now; the tokens it minted end.")
        key_retire.add_argument("client_id")
        key_retire.add_argument("kid")
        update = sub.add_parser("update", help="Change a client's name, owner, contact or description.")
        update.add_argument("client_id")
        for option in ("name", "owner", "contact", "description"):
            update.add_argument(f"--{option}", default=None, metavar="TEXT")
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
        tokens = sub.add_parser("tokens", help="List a client's live tokens (never the tokens themselves).")
        tokens.add_argument("client_id")
        tokens.add_argument("--json", action="store_true")

    @staticmethod
    def add_credential_arguments(parser: Any) -> None:
        parser.add_argument(
            "--jwks", metavar="FILE", help="private_key_jwt: its public keys, a JWKS file (- for stdin)."
        )
        parser.add_argument("--jwks-uri", metavar="URL", help="private_key_jwt: where it publishes its public keys.")
        parser.add_argument("--trust", metavar="NAME", help="federated: the trust whose tokens it presents.")
        parser.add_argument("--subject", metavar="SUBJECT", help="federated: the `sub` of those tokens.")

    def _client(self, client_id: str) -> Client:
        try:
            return Client.objects.get(client_id=client_id)
        except Client.DoesNotExist:
            # Echo it only if it looks like a client id: a secret pasted by mistake must not reach a terminal log.
            leaked = credentials.CLIENT_SECRET_PREFIX in client_id or credentials.ACCESS_TOKEN_PREFIX in client_id
            shown = "(a secret or token, not shown)" if leaked else client_id
            raise CommandError(f"unknown client: {shown}") from None

    def _warn_duplicate_name(self, client: Client) -> None:
        others = Client.objects.named(client.name).exclude(pk=client.pk)
        if others:
            ids = ", ".join(c.client_id for c in others)
            self.stderr.write(f"warning: another client is already named {client.name}: {ids}")

    def do_create(
        self,
        name: str,
        description: str,
        owner: str,
        contact: str,
        scopes: list[str],
        introspect: bool,
        resource: str | None,
        token_ttl: int | None,
        json: bool,
        **options: Any,
    ) -> None:
        if resource is not None and not introspect:
            raise CommandError(
                "--resource names the resource server an introspecting client speaks for: add --introspect"
            )
        new = client_create(
            name=name,
            description=description,
            owner=owner,
            contact=contact,
            scopes=scopes,
            can_introspect=introspect,
            resource_server=find_resource(resource) if resource is not None else None,
            token_ttl=token_ttl,
            credential=credential_from(options),
            actor=Actor.cli(),
        )
        self._warn_duplicate_name(new.client)
        payload = {
            "client_id": new.client.client_id,
            "client_secret": new.plaintext,
            "name": new.client.name,
            "owner": new.client.owner,
            "contact": new.client.contact,
            "scopes": new.client.scope_names(),
            "can_introspect": new.client.can_introspect,
            "resource": new.client.resource_server.identifier if new.client.resource_server else None,
            "token_ttl": new.client.token_ttl,
        }
        if new.plaintext is None:  # a secret client's JSON keeps exactly its documented keys
            payload.update(
                {
                    "auth_method": new.client.auth_method,
                    "jwks_uri": new.client.jwks_uri or None,
                    "keys": [k.kid for k in new.client.keys.all()],
                    "trust": new.client.trust.name if new.client.trust else None,
                    "subject": new.client.subject or None,
                }
            )
        if json:
            self.emit_json(payload)
            return
        self.stdout.write(f"client_id:     {payload['client_id']}")
        self.print_credential(new.client, new.plaintext)

    def print_credential(self, client: Client, plaintext: str | None) -> None:
        if plaintext is not None:
            self.stdout.write(f"client_secret: {plaintext}")
            self.stdout.write("Store the secret now: it is not kept and cannot be shown again.")
        elif client.trust is not None:
            self.stdout.write(f"authenticates with tokens of trust {client.trust.name} for subject {client.subject}")
        elif client.jwks_uri:
            self.stdout.write(f"authenticates with private_key_jwt, keys from {client.jwks_uri} (no secret)")
        else:
            kids = ", ".join(k.kid for k in client.keys.filter(retired_at__isnull=True))
            self.stdout.write(f"authenticates with private_key_jwt, keys {kids} (no secret)")

    def do_switch(self, client_id: str, secret: bool, json: bool, **options: Any) -> None:
        credential = credential_from(options)
        if secret == (credential is not SECRET):
            raise CommandError("give one of --secret, --jwks, --jwks-uri or --trust/--subject")
        new = client_switch_auth(client=self._client(client_id), credential=credential, actor=Actor.cli())
        if json:
            self.emit_json(
                {"client_id": client_id, "auth_method": new.client.auth_method, "client_secret": new.plaintext}
            )
            return
        self.stdout.write(f"{client_id} now authenticates by {new.client.auth_method}; its live tokens ended")
        self.print_credential(new.client, new.plaintext)

    def do_keys(self, client_id: str, json: bool, **_: Any) -> None:
        client = self._client(client_id)
        keys = [describe_key(k) for k in client.keys.all()]
        if json:
            self.emit_json({"client_id": client_id, "jwks_uri": client.jwks_uri or None, "keys": keys})
            return
        if client.jwks_uri:
            self.stdout.write(f"keys are fetched from {client.jwks_uri}")
        for k in keys:
            self.stdout.write(
                f"{k['kid']}  {k['kty']:<3}  {k['state']:<7}  added {k['created_at']} by {k['created_by']}"
                f"  last used {k['last_used_at'] or 'never'}"
            )

    def do_key(self, key_action: str, client_id: str, **options: Any) -> None:
        client = self._client(client_id)
        if key_action == "add":
            added = client_key_add(client=client, keys=read_jwks(options["jwks"]), actor=Actor.cli())
            if options["json"]:
                self.emit_json({"client_id": client_id, "keys": [describe_key(k) for k in added]})
                return
            self.stdout.write(f"added key(s) {', '.join(k.kid for k in added)} to {client_id}")
            return
        key = client_key_retire(client=client, kid=options["kid"], actor=Actor.cli())
        self.stdout.write(f"retired key {key.kid} of {client_id}; the tokens it minted are revoked")

    def do_update(self, client_id: str, **options: Any) -> None:
        fields = {k: options[k] for k in ("name", "owner", "contact", "description") if options[k] is not None}
        if not fields:
            raise CommandError("nothing to change: give --name, --owner, --contact or --description")
        client = client_update(client=self._client(client_id), actor=Actor.cli(), **fields)
        if "name" in fields:
            self._warn_duplicate_name(client)
        self.stdout.write(f"updated {client_id}")

    def do_rotate(self, client_id: str, grace: timedelta, revoke_tokens: bool, json: bool, **_: Any) -> None:
        new = client_rotate_secret(
            client=self._client(client_id),
            grace=grace,
            revoke_tokens=revoke_tokens,
            actor=Actor.cli(),
        )
        expires = _iso(new.previous_secret_expires_at)
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
        client = self._client(client_id)
        if not client.is_active:
            self.stdout.write(f"{client_id} was already disabled")
            return
        client_disable(client=client, actor=Actor.cli())
        # The service records how many tokens it ended on the audit event it wrote in its transaction.
        event = AuditEvent.objects.filter(client=client, action="client.disable").first()
        revoked = event.changes["tokens_revoked"][1] if event else 0
        self.stdout.write(f"disabled {client_id}; {revoked} live token{'' if revoked == 1 else 's'} revoked")

    def do_enable(self, client_id: str, **_: Any) -> None:
        client_enable(client=self._client(client_id), actor=Actor.cli())
        self.stdout.write(f"enabled {client_id}")

    def do_list(self, json: bool, **_: Any) -> None:
        clients = Client.objects.select_related("resource_server", "trust").prefetch_related(
            "scopes", "secrets", "keys"
        )
        if json:
            self.emit_json({"clients": [describe(c) for c in clients]})
            return
        rows = [["CLIENT_ID", "STATUS", "NAME", "OWNER", "SCOPES"]]
        for c in clients:
            status = "active" if c.is_active else "disabled"
            rows.append([c.client_id, status, c.name, c.owner or "-", " ".join(c.scope_names()) or "-"])
        for line in table(rows):
            self.stdout.write(line)

    def do_show(self, client_id: str, json: bool, **_: Any) -> None:
        data = describe(self._client(client_id))
        if json:
            self.emit_json(data)
            return
        shown = {key: _word(value) for key, value in data.items() if key not in ("secrets", "keys")}
        width = max(len(key) for key in shown) + 1
        for key, value in shown.items():
            self.stdout.write(f"{key + ':':<{width}} {value}")
        self.stdout.write("secrets:")
        rows = [["HINT", "STATE", "CREATED", "BY", "VALID UNTIL", "LAST USED", "TOKENS 24 H"]]
        for s in data["secrets"]:
            rows.append(
                [
                    s["hint"],
                    s["state"],
                    s["created_at"],
                    s["created_by"] or "-",
                    s["valid_until"] or "rotated",
                    s["last_used_at"] or "never",
                    str(s["tokens_last_24h"]),
                ]
            )
        for line in table(rows):
            self.stdout.write("  " + line)
        if data["keys"]:
            self.stdout.write("keys:")
            rows = [["KID", "TYPE", "STATE", "CREATED", "BY", "LAST USED"]]
            for k in data["keys"]:
                rows.append(
                    [
                        k["kid"],
                        k["kty"],
                        k["state"],
                        k["created_at"],
                        k["created_by"] or "-",
                        k["last_used_at"] or "never",
                    ]
                )
            for line in table(rows):
                self.stdout.write("  " + line)

    def do_tokens(self, client_id: str, json: bool, **_: Any) -> None:
        client = self._client(client_id)
        tokens = [describe_token(t) for t in live_tokens(client, timezone.now())]
        if json:
            self.emit_json({"client_id": client.client_id, "tokens": tokens})
            return
        if not tokens:
            self.stdout.write(f"{client_id} has no live tokens")
            return
        rows = [["ID", "ISSUED", "EXPIRES", "SECRET", "ADDRESS", "SCOPES"]]  # SECRET: tokens.usage.minted_by
        for t in tokens:
            rows.append(
                [
                    str(t["id"]),
                    t["issued_at"],
                    t["expires_at"],
                    t["minted_by"],
                    t["address"] or "-",
                    " ".join(t["scopes"]),
                ]
            )
        for line in table(rows):
            self.stdout.write(line)
