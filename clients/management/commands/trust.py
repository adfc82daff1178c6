"""`python manage.py trust create|list|test ...`: external issuers whose tokens authenticate bound clients."""

from typing import Any

from django.core.management.base import CommandError

from clients import jwks
from clients.management.commands._cli import SubcommandCommand, read_jwks
from clients.models import Trust
from clients.services import Actor, trust_create, trust_keys, trust_set_active


def describe_trust(trust: Trust) -> dict[str, Any]:
    return {
        "name": trust.name,
        "issuer": trust.issuer,
        "audience": trust.audience,
        "keys": trust.key_source,
        "jwks_uri": trust.jwks_uri or None,
        "discover": trust.discover,
        "algorithms": trust.algorithms,
        "is_active": trust.is_active,
        "clients": [{"client_id": c.client_id, "subject": c.subject} for c in trust.clients.order_by("subject", "id")],
        "created_at": trust.created_at.isoformat(),
    }


class Command(SubcommandCommand):
    help = "Register and list trusted issuers (federated workload identity)."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Register an issuer whose tokens may authenticate bound clients.")
        create.add_argument("name")
        create.add_argument("--issuer", required=True, metavar="URL", help="The `iss` of its tokens, exactly.")
        source = create.add_mutually_exclusive_group(required=True)
        source.add_argument("--jwks", metavar="FILE", help="Its public keys, a JWKS file (- for stdin).")
        source.add_argument("--jwks-uri", metavar="URL", help="Where it publishes its public keys.")
        source.add_argument("--discover", action="store_true", help="Find its jwks_uri by OIDC discovery.")
        create.add_argument("--audience", required=True, metavar="AUD", help="The `aud` its tokens carry for us.")
        create.add_argument(
            "--algorithm",
            action="append",
            dest="algorithms",
            choices=[a for a in jwks.ALGORITHMS if a != "Ed25519"],
            metavar="ALG",
            help="An accepted signing algorithm (repeat; default RS256 and ES256).",
        )
        create.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="List trusts and the subjects bound to them.")
        listing.add_argument("--json", action="store_true")
        for name, text in (
            ("disable", "Refuse a trust's tokens from now on and end the live tokens of its clients."),
            ("enable", "Accept a trust's tokens again (ended tokens stay ended)."),
        ):
            sub.add_parser(name, help=text).add_argument("name")
        test = sub.add_parser("test", help="Fetch a trust's keys now and show their key ids.")
        test.add_argument("name")
        test.add_argument("--json", action="store_true")

    def do_create(
        self,
        name: str,
        issuer: str,
        jwks: str | None,
        jwks_uri: str | None,
        discover: bool,
        audience: str,
        algorithms: list[str] | None,
        json: bool,
        **_: Any,
    ) -> None:
        trust = trust_create(
            name=name,
            issuer=issuer,
            audience=audience,
            keys=read_jwks(jwks) if jwks else None,
            jwks_uri=jwks_uri or "",
            discover=discover,
            algorithms=algorithms or ("RS256", "ES256"),
            actor=Actor.cli(),
        )
        if json:
            self.emit_json(describe_trust(trust))
            return
        self.stdout.write(f"trust {trust.name}: tokens of {trust.issuer} for audience {trust.audience}")

    def do_list(self, json: bool, **_: Any) -> None:
        trusts = list(Trust.objects.all())
        if json:
            self.emit_json({"trusts": [describe_trust(t) for t in trusts]})
            return
        for t in trusts:
            bound = t.clients.count()
            self.stdout.write(f"{t.name}  {t.issuer}  aud={t.audience}  keys={t.key_source}  clients={bound}")

    def _trust(self, name: str) -> Trust:
        try:
            return Trust.objects.get(name=name)
        except Trust.DoesNotExist:
            raise CommandError(f"unknown trust: {name}") from None

    def do_disable(self, name: str, **_: Any) -> None:
        revoked = trust_set_active(trust=self._trust(name), active=False, actor=Actor.cli())
        self.stdout.write(f"disabled trust {name}; {revoked} live token(s) of its clients revoked")

    def do_enable(self, name: str, **_: Any) -> None:
        trust_set_active(trust=self._trust(name), active=True, actor=Actor.cli())
        self.stdout.write(f"enabled trust {name}")

    def do_test(self, name: str, json: bool, **_: Any) -> None:
        trust = self._trust(name)
        try:
            keys = trust_keys(trust)
        except jwks.JWKSError as error:
            raise CommandError(f"trust {name}: {error}") from None
        if json:
            self.emit_json({"name": name, "kids": [k.kid for k in keys]})
            return
        for key in keys:
            self.stdout.write(f"{key.kid}  {key.kty}  {key.alg or '-'}")
