"""Every write to clients, secrets and scopes: the admin, the command line and the API all call these.

Each runs in one transaction and records an AuditEvent in it, so a change and its audit line land together.
Each also checks, inside that transaction, that its actor has the authority for it (the grant rule, docs/api.md):
who may grant which scopes and the introspection privilege is decided here and nowhere else.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from clients import credentials, jwks, signals
from clients.models import (
    ADMIN_SCOPE,
    RESERVED_SCOPE_PREFIX,
    RESOURCE_SERVERS_WRITE,
    AuditEvent,
    Client,
    ClientKey,
    ClientSecret,
    ResourceServer,
    Scope,
    Trust,
    end_by,
    is_reserved_scope,
    validate_grace,
)
from clients.roles import PRIVILEGED_PERMISSION


@dataclass(frozen=True)
class Caller:
    """The token behind an API change: which client presented it, under which generation, minted by which secret.

    Writes re-check it inside their transaction (`_check_caller`): a token that died since the request was
    authenticated (its client disabled, a scope removed, its secret retired) changes nothing.
    """

    client_pk: int
    generation: int
    secret_pk: int | None
    key_pk: int | None = None


@dataclass(frozen=True)
class Actor:
    """Who is making a change, for the audit trail, and the authority they bring to it.

    `unlimited` actors grant any scope and the introspection privilege: the command line (whoever runs manage.py
    holds the database credentials anyway), staff with `clients.grant_privileged_access`, API tokens carrying
    gatehouse:admin. Otherwise staff hold every scope outside the gatehouse: namespace, and an API caller exactly the
    scopes in its token (`scopes`). `manages_introspection` is the privilege over resource servers: managing them,
    their scopes' assignment and the clients that introspect for one of them. A global introspector (which sees
    every token at every resource server) is a privilege of its own: only `unlimited` actors grant or manage one.
    """

    type: str
    name: str
    address: str | None = None
    unlimited: bool = True
    scopes: frozenset[str] | None = None  # an API caller's token scopes; None: every scope outside gatehouse:
    manages_introspection: bool = True
    caller: Caller | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.type == AuditEvent.ActorType.API and (self.caller is None or self.scopes is None):
            raise TypeError("an API actor carries its token's scopes and caller: use Actor.api_client")

    @classmethod
    def cli(cls) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(AuditEvent.ActorType.CLI, user)

    @classmethod
    def staff(cls, user: Any, address: str | None = None) -> Actor:
        privileged = user.has_perm(PRIVILEGED_PERMISSION)
        return cls(
            AuditEvent.ActorType.STAFF,
            user.get_username(),
            address,
            unlimited=privileged,
            manages_introspection=privileged,
        )

    @classmethod
    def api_client(cls, client_id: str, address: str | None = None, *, scopes: Iterable[str], caller: Caller) -> Actor:
        held = frozenset(scopes)
        return cls(
            AuditEvent.ActorType.API,
            client_id,
            address,
            unlimited=ADMIN_SCOPE in held,
            scopes=held,
            manages_introspection=bool({ADMIN_SCOPE, RESOURCE_SERVERS_WRITE} & held),
            caller=caller,
        )

    def holds(self, scope: str) -> bool:
        """May this actor hand the scope out (and manage clients holding it)?"""
        if self.unlimited:
            return True
        if self.scopes is None:
            return not is_reserved_scope(scope)
        return scope in self.scopes


class ScopeInUse(ValidationError):
    def __init__(self, scope: Scope, holders: list[Client]) -> None:
        self.holders = holders
        names = ", ".join(f"{c.name} ({c.client_id})" for c in holders)
        super().__init__(f"scope {scope.name} is held by {len(holders)} client(s): {names}", code="scope_in_use")


class ScopeNotHeld(PermissionDenied):
    """The actor lacks the authority for a change: scopes it does not hold, or the introspection privilege."""

    def __init__(self, missing: Iterable[str], doing: str, actor: Actor) -> None:
        self.missing = sorted(missing)
        if actor.type == AuditEvent.ActorType.STAFF:
            needs = "the permission to grant gatehouse:* scopes and the introspection privilege"
        else:
            needs = "scopes this caller does not hold"
        super().__init__(f"{doing} needs {needs}: {', '.join(self.missing)}")


INTROSPECTION = "may introspect"  # how the introspection privilege is named in a staff refusal
GLOBAL_INTROSPECTION = "global introspection"  # and the global introspector's


class ResourceInUse(ValidationError):
    def __init__(self, resource_server: ResourceServer, holders: list[Client]) -> None:
        self.holders = holders
        names = ", ".join(f"{c.name} ({c.client_id})" for c in holders)
        super().__init__(
            f"resource server {resource_server.identifier} still has scopes held by {len(holders)} client(s): {names}; "
            "take those scopes away from them (which ends their tokens) or move the scopes first",
            code="resource_in_use",
        )


class ReservedScope(PermissionDenied):
    def __init__(self, name: str, doing: str) -> None:
        self.name = name
        super().__init__(
            f"cannot {doing} {name}: names starting with {RESERVED_SCOPE_PREFIX} (in any case) are Gatehouse's own, "
            "made by its migrations"
        )


class CallerRevoked(PermissionDenied):
    """The API token behind a change died while the request ran (client disabled, scope removed, secret retired)."""

    def __init__(self) -> None:
        super().__init__("the access token was revoked while this request ran")


def authorize(
    actor: Actor,
    *,
    client: Client | None = None,
    scopes: Iterable[str] = (),
    can_introspect: bool = False,
    introspects_for: ResourceServer | None = None,
) -> None:
    """The grant rule: refuse unless the actor may manage `client` as it is and grant every named scope (held by
    name, whether the scope exists or not) and, when asked, the introspection privilege: for `introspects_for`, or
    global (None), which is a privilege of its own.

    The services call it inside the writing transaction, after locking what they check; the portal's forms call it
    beforehand only to show the refusal next to the field.
    """
    if client is not None:
        missing = {name for name in client.scope_names() if not actor.holds(name)}
        if client.can_introspect:
            missing |= _introspection_missing(actor, bound=client.resource_server_id is not None)
        if missing:
            raise ScopeNotHeld(missing, f"managing client {client.client_id}", actor)
    missing = {name for name in scopes if not actor.holds(name)}
    if can_introspect:
        missing |= _introspection_missing(actor, bound=introspects_for is not None)
    if missing:
        raise ScopeNotHeld(
            missing, "granting these scopes" if scopes else "granting the introspection privilege", actor
        )


def authorize_resource_servers(actor: Actor, doing: str) -> None:
    """Managing resource servers (and which scopes belong to them) is the introspection privilege's."""
    if not actor.manages_introspection:
        raise ScopeNotHeld({_introspection_needs(actor)}, doing, actor)


def _introspection_missing(actor: Actor, *, bound: bool) -> set[str]:
    if not bound:
        if actor.unlimited:
            return set()
        return {GLOBAL_INTROSPECTION if actor.scopes is None else ADMIN_SCOPE}
    return set() if actor.manages_introspection else {_introspection_needs(actor)}


def _introspection_needs(actor: Actor) -> str:
    return INTROSPECTION if actor.scopes is None else RESOURCE_SERVERS_WRITE


def _lock_client(actor: Actor, client_pk: int) -> Client:
    """Lock the client being changed and, for an API caller, its own client (one statement, in pk order, so two
    clients changing each other cannot deadlock); check the caller's token still holds (`_check_caller`).
    """
    rows = _lock_rows(actor, client_pk)
    if client_pk not in rows:
        raise Client.DoesNotExist(f"client {client_pk} no longer exists")
    return rows[client_pk]


def _lock_caller(actor: Actor) -> None:
    """For a change that touches no client row (a create, the scope catalogue): lock and check the API caller."""
    _lock_rows(actor, None)


def _lock_rows(actor: Actor, client_pk: int | None, others: Iterable[int] = ()) -> dict[int, Client]:
    caller = actor.caller
    pks = {pk for pk in (client_pk, caller.client_pk if caller else None, *others) if pk is not None}
    if not pks:
        return {}
    rows = {c.pk: c for c in Client.objects.select_for_update().filter(pk__in=pks).order_by("pk")}
    if caller is not None:
        _check_caller(caller, rows.get(caller.client_pk))
    return rows


def _check_caller(caller: Caller, own: Client | None) -> None:
    """The caller's token is still live: its client active under the same generation, its secret not retired.

    Every change that ends tokens takes the caller's client row lock first (which the caller now holds), so
    what is checked here stays true until this transaction commits.
    """
    if own is None or not own.is_active or own.generation != caller.generation:
        raise CallerRevoked()
    if (
        caller.secret_pk is not None
        and not ClientSecret.objects.filter(pk=caller.secret_pk, retired_at__isnull=True).exists()
    ):
        raise CallerRevoked()
    if caller.key_pk is not None and not ClientKey.objects.filter(pk=caller.key_pk, retired_at__isnull=True).exists():
        raise CallerRevoked()


@dataclass(frozen=True)
class NewSecret:
    """A secret just made: the only moment its plaintext exists outside the client that receives it.

    A client that authenticates without a secret (private_key_jwt, federated) gets none: both are then None.
    """

    client: Client
    secret: ClientSecret | None
    plaintext: str | None
    previous_secret_expires_at: datetime | None = None
    tokens_revoked: int = 0


def _audit(
    *, actor: Actor, action: str, client: Client | None = None, target: str = "", changes: dict | None = None
) -> None:
    AuditEvent.objects.create(
        actor_type=actor.type,
        actor=actor.name,
        address=actor.address,
        action=action,
        client=client,
        target=target or (client.client_id if client else ""),
        changes=changes or {},
    )


def _lock_scopes(names: Iterable[str]) -> list[Scope]:
    """The named scopes, locked until commit so that a concurrent scope_delete waits for this grant (and then
    finds the scope held) or deletes first (and this grant finds the scope unknown). A scope of a retired resource
    server is refused: resource_server_retire locks its scopes before it looks for holders, so it either waits for
    this grant (and then refuses to retire) or retires first (and this grant, reading after the lock, sees it)."""
    wanted = sorted(set(names))
    found = list(Scope.objects.select_for_update(of=("self",)).filter(name__in=wanted).order_by("pk"))
    missing = sorted(set(wanted) - {s.name for s in found})
    if missing:
        raise ValidationError(f"unknown scope: {', '.join(missing)}", code="unknown_scope")
    owners = {s.resource_server_id for s in found if s.resource_server_id is not None}
    retired = set()
    if owners:
        retired = set(
            ResourceServer.objects.filter(pk__in=owners, retired_at__isnull=False).values_list("pk", flat=True)
        )
    if retired:
        names = sorted(s.name for s in found if s.resource_server_id in retired)
        raise ValidationError(
            f"scopes of a retired resource server cannot be granted: {', '.join(names)}", code="unknown_scope"
        )
    return found


def _lock_resource_server(resource_server: ResourceServer | None, doing: str) -> ResourceServer | None:
    """The resource server row, locked (a retirement and a change that depends on it are ordered), and active."""
    if resource_server is None:
        return None
    locked = ResourceServer.objects.select_for_update().get(pk=resource_server.pk)
    if locked.retired_at is not None:
        raise ValidationError(
            f"resource server {locked.identifier} is retired: cannot {doing}", code="resource_retired"
        )
    return locked


def _new_secret(*, client: Client, actor: Actor, now: datetime) -> tuple[ClientSecret, str]:
    plaintext = credentials.new_credential(credentials.CLIENT_SECRET_PREFIX)
    secret = ClientSecret.objects.create(
        client=client,
        digest=credentials.digest(plaintext),
        hint=credentials.hint(plaintext),
        created_at=now,
        created_by=actor.name,
    )
    return secret, plaintext


def scope_create(
    *, name: str, description: str = "", actor: Actor, resource_server: ResourceServer | None = None
) -> Scope:
    """Add a scope to the catalogue: global, or belonging to `resource_server` (which needs the privilege over
    resource servers: what a scope belongs to decides which resource servers see it)."""
    if is_reserved_scope(name):
        raise ReservedScope(name, "create")
    clash = Scope.objects.filter(name__iexact=name).values_list("name", flat=True).first()
    if clash is not None:
        raise _duplicate_scope(clash)
    scope = Scope(name=name, description=description, resource_server=resource_server)
    scope.full_clean()
    try:
        with transaction.atomic():
            _lock_caller(actor)
            if resource_server is not None:
                authorize_resource_servers(actor, f"creating a scope of {resource_server.identifier}")
                _lock_resource_server(resource_server, "add scopes to it")
            scope.save()
            changes: dict[str, Any] = {"description": [None, description]}
            if resource_server is not None:
                changes["resource"] = [None, resource_server.identifier]
            _audit(actor=actor, action="scope.create", target=name, changes=changes)
    except IntegrityError:  # a concurrent create of the same name, in some case, committed first
        raise _duplicate_scope(name) from None
    return scope


def _duplicate_scope(existing: str) -> ValidationError:
    return ValidationError(
        {"name": [f"a scope named {existing} already exists (scope names are compared ignoring case)"]},
        code="duplicate_scope",
    )


class _Keep:
    """A keyword left out: keep the current value (None is a value: a scope's resource server None is global)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


def scope_update(
    *, scope: Scope, actor: Actor, description: str | None = None, resource_server: ResourceServer | None = KEEP
) -> Scope:
    """Change a scope's description or the resource server it belongs to (None: make it global).

    Moving a scope changes what resource servers see of the tokens that carry it, so it ends the live tokens of
    every client holding it (as removing a scope from a client does); it needs the privilege over resource servers
    and, under the grant rule, the scope itself.
    """
    if is_reserved_scope(scope.name):
        raise ReservedScope(scope.name, "change")
    now = timezone.now()
    with transaction.atomic():
        changes: dict[str, Any] = {}
        moving = resource_server is not KEEP and resource_server != scope.resource_server
        if moving:
            authorize_resource_servers(actor, f"moving scope {scope.name}")
            authorize(actor, scopes=[scope.name])
            holders = _lock_holders(actor, scope)
            _lock_resource_server(resource_server, "move scopes to it")
        else:
            _lock_caller(actor)
            holders = []
        scope = Scope.objects.select_for_update(of=("self",)).select_related("resource_server").get(pk=scope.pk)
        if description is not None and description != scope.description:
            changes["description"] = [scope.description, description]
            scope.description = description
        if moving:
            before = scope.resource_server
            if before is not None and before.retired_at is not None:
                raise ValidationError(
                    f"scope {scope.name} belongs to a retired resource server", code="resource_retired"
                )
            revoked = sum(_end_client_tokens(client, now, signals.scope_moved, scope=scope.name) for client in holders)
            scope.resource_server = resource_server
            changes["resource"] = [_identifier(before), _identifier(resource_server)]
            changes["tokens_revoked"] = [None, revoked]
        if changes:
            scope.save(update_fields=["description", "resource_server"])
            _audit(actor=actor, action="scope.update", target=scope.name, changes=changes)
    return scope


def _identifier(resource_server: ResourceServer | None) -> str | None:
    return None if resource_server is None else resource_server.identifier


def _lock_holders(actor: Actor, scope: Scope) -> list[Client]:
    """Lock the caller's client and every client holding `scope` (clients before scopes, in primary-key order, as
    everywhere), then the scope; a holder whose grant committed between the read and the scope lock is locked too."""
    wanted: set[int] = set()
    while True:
        wanted |= set(Client.objects.filter(scopes=scope).values_list("pk", flat=True))
        locked = _lock_rows(actor, None, wanted)
        list(Scope.objects.select_for_update(of=("self",)).filter(pk=scope.pk).values_list("pk", flat=True))
        holders = set(Client.objects.filter(scopes=scope).values_list("pk", flat=True))
        if holders <= wanted:
            return [locked[pk] for pk in sorted(holders)]


def scope_delete(*, scope: Scope, actor: Actor) -> None:
    """Delete a scope no client holds. The scope row is locked first: a grant in flight either committed (and the
    scope is held) or waits and then finds it gone."""
    if is_reserved_scope(scope.name):
        raise ReservedScope(scope.name, "delete")
    with transaction.atomic():
        _lock_caller(actor)
        if scope.resource_server_id is not None:
            authorize_resource_servers(actor, f"deleting scope {scope.name} of a resource server")
        scope = Scope.objects.select_for_update().get(pk=scope.pk)
        holders = list(scope.clients.order_by("name"))
        if holders:
            raise ScopeInUse(scope, holders)
        _audit(
            actor=actor, action="scope.delete", target=scope.name, changes={"description": [scope.description, None]}
        )
        scope.delete()


def resource_server_create(
    *, identifier: str, name: str, actor: Actor, description: str = "", owner: str = ""
) -> ResourceServer:
    """Register a resource server (RFC 8707 resource). Its identifier never changes and is never reused."""
    resource_server = ResourceServer(
        identifier=identifier, name=name, description=description, owner=owner, created_by=actor.name
    )
    resource_server.full_clean()
    try:
        with transaction.atomic():
            _lock_caller(actor)
            authorize_resource_servers(actor, "registering a resource server")
            resource_server.save()
            _audit(
                actor=actor,
                action="resource.create",
                target=identifier,
                changes={"name": [None, name], "description": [None, description], "owner": [None, owner]},
            )
    except IntegrityError:  # registered concurrently
        raise ValidationError(
            {"identifier": [f"a resource server {identifier} already exists"]}, code="duplicate_resource"
        ) from None
    return resource_server


_RESOURCE_UPDATABLE = ("name", "description", "owner")


def resource_server_update(*, resource_server: ResourceServer, actor: Actor, **fields: Any) -> ResourceServer:
    """Change a resource server's name, description or owner (its identifier never changes)."""
    unknown = set(fields) - set(_RESOURCE_UPDATABLE)
    if unknown:
        raise TypeError(f"resource_server_update cannot change {', '.join(sorted(unknown))}")
    with transaction.atomic():
        _lock_caller(actor)
        authorize_resource_servers(actor, f"changing resource server {resource_server.identifier}")
        resource_server = ResourceServer.objects.select_for_update().get(pk=resource_server.pk)
        changes = {}
        for name, value in fields.items():
            before = getattr(resource_server, name)
            if before != value:
                setattr(resource_server, name, value)
                changes[name] = [before, value]
        resource_server.full_clean()
        if changes:
            resource_server.save()
            _audit(actor=actor, action="resource.update", target=resource_server.identifier, changes=changes)
    return resource_server


def resource_server_retire(*, resource_server: ResourceServer, actor: Actor) -> ResourceServer:
    """Retire a resource server no client holds a scope of, so that no live token is for it.

    Refused (ResourceInUse) while clients hold its scopes: taking the scopes away ends their tokens, one audited
    change per client. Once retired, no token names it, its scopes cannot be granted, its introspectors see every
    token as inactive; the row stays, so its identifier is never reused.
    """
    now = timezone.now()
    with transaction.atomic():
        _lock_caller(actor)
        authorize_resource_servers(actor, f"retiring resource server {resource_server.identifier}")
        resource_server = ResourceServer.objects.select_for_update().get(pk=resource_server.pk)
        if resource_server.retired_at is not None:
            return resource_server
        # Its scopes, locked: a grant in flight either committed (and is found below) or waits and then refuses.
        scopes = list(Scope.objects.select_for_update().filter(resource_server=resource_server).order_by("pk"))
        holders = list(Client.objects.filter(scopes__in=scopes).distinct().order_by("name"))
        if holders:
            raise ResourceInUse(resource_server, holders)
        resource_server.retired_at = now
        resource_server.retired_by = actor.name
        resource_server.save(update_fields=["retired_at", "retired_by", "updated_at"])
        introspectors = list(resource_server.introspectors.values_list("client_id", flat=True))
        _audit(
            actor=actor,
            action="resource.retire",
            target=resource_server.identifier,
            changes={"retired_at": [None, now.isoformat()], "introspectors": [None, introspectors]},
        )
    return resource_server


@dataclass(frozen=True)
class Credential:
    """How a new client will authenticate: a secret (the default), its own keys (private_key_jwt: an inline JWKS
    or a jwks_uri) or a trusted issuer's tokens for one subject (federated)."""

    keys: list[jwks.PublicKey] | None = None
    jwks_uri: str = ""
    trust: Trust | None = None
    subject: str = ""

    @property
    def auth_method(self) -> str:
        if self.trust is not None:
            return Client.AuthMethod.FEDERATED
        if self.keys is not None or self.jwks_uri:
            return Client.AuthMethod.PRIVATE_KEY_JWT
        return Client.AuthMethod.SECRET

    def check(self) -> None:
        ways = [self.keys is not None, bool(self.jwks_uri), self.trust is not None]
        if sum(ways) > 1:
            raise ValidationError(
                "a client authenticates one way: a secret, keys (a JWKS or a jwks_uri) or a trust and subject",
                code="one_auth_method",
            )
        if (self.trust is None) != (not self.subject):
            raise ValidationError("a trust and a subject go together", code="trust_needs_subject")
        if self.jwks_uri:
            try:
                jwks.check_url(self.jwks_uri)
            except jwks.JWKSError as error:
                raise ValidationError(f"jwks_uri: {error}", code="bad_jwks_uri") from None
        if len(self.subject) > 500:
            raise ValidationError("the subject is longer than 500 characters", code="subject_too_long")


SECRET = Credential()


def client_create(
    *,
    name: str,
    actor: Actor,
    description: str = "",
    owner: str = "",
    contact: str = "",
    scopes: Iterable[str] = (),
    can_introspect: bool = False,
    token_ttl: int | None = None,
    resource_server: ResourceServer | None = None,
    credential: Credential = SECRET,
) -> NewSecret:
    """Register a client with a first secret (the returned plaintext is shown once and never stored), or with
    the keys or trust binding of `credential`, which issue no secret.

    An introspecting client speaks for `resource_server`, or for none (a global introspector).
    """
    scopes = list(scopes)
    credential.check()
    if resource_server is not None and not can_introspect:
        raise ValidationError(
            {"resource": ["only a client that may introspect speaks for a resource server"]}, code="not_introspector"
        )
    client = Client(
        name=name,
        description=description,
        owner=owner,
        contact=contact,
        can_introspect=can_introspect,
        resource_server=resource_server,
        created_by=actor.name,
        auth_method=credential.auth_method,
        jwks_uri=credential.jwks_uri,
        trust=credential.trust,
        subject=credential.subject,
    )
    if token_ttl is not None:
        client.token_ttl = token_ttl
    client.full_clean()
    now = timezone.now()
    try:
        with transaction.atomic():
            _lock_caller(actor)
            authorize(actor, scopes=scopes, can_introspect=can_introspect, introspects_for=resource_server)
            _lock_resource_server(resource_server, "register clients that introspect for it")
            granted = _lock_scopes(scopes)
            client.created_at = now
            client.save()
            client.scopes.set(granted)
            changes: dict[str, Any] = {
                "name": [None, client.name],
                "description": [None, client.description],
                "owner": [None, client.owner],
                "contact": [None, client.contact],
                "scopes": [None, sorted(s.name for s in granted)],
                "can_introspect": [None, client.can_introspect],
                "resource": [None, _identifier(resource_server)],
                "token_ttl": [None, client.token_ttl],
                "auth_method": [None, client.auth_method],
            }
            secret = plaintext = None
            changes.update(_set_up_credential(client, credential, actor=actor, now=now))
            if credential.auth_method == Client.AuthMethod.SECRET:
                secret, plaintext = _new_secret(client=client, actor=actor, now=now)
                changes["secret"] = [None, secret.hint]
            _audit(actor=actor, action="client.create", client=client, changes=changes)
    except IntegrityError as error:
        raise _binding_taken(error, credential) from None
    return NewSecret(client=client, secret=secret, plaintext=plaintext)


def _binding_taken(error: IntegrityError, credential: Credential) -> Exception:
    """A concurrent bind of the same (trust, subject) committed first; anything else is re-raised."""
    message = str(error)
    if credential.trust is not None and ("one_client_per_trust_subject" in message or "trust_id" in message):
        return ValidationError(
            f"subject {credential.subject!r} of trust {credential.trust} is already bound to another client",
            code="subject_taken",
        )
    return error


def _set_up_credential(client: Client, credential: Credential, *, actor: Actor, now: datetime) -> dict[str, Any]:
    """Store the keys of a new credential; the audit changes it makes."""
    changes: dict[str, Any] = {}
    if credential.keys is not None:
        changes["keys_added"] = [None, _add_keys(client, credential.keys, actor=actor, now=now)]
    if credential.jwks_uri:
        changes["jwks_uri"] = [None, credential.jwks_uri]
    if credential.trust is not None:
        changes["trust"] = [None, credential.trust.name]
        changes["subject"] = [None, credential.subject]
    return changes


def _add_keys(client: Client, keys: list[jwks.PublicKey], *, actor: Actor, now: datetime) -> list[str]:
    taken = set(client.keys.filter(retired_at__isnull=True).values_list("kid", flat=True))
    clash = sorted(taken & {k.kid for k in keys})
    if clash:
        raise ValidationError(f"the client already has an active key with kid {', '.join(clash)}", code="kid_taken")
    ClientKey.objects.bulk_create(
        ClientKey(
            client=client,
            kid=k.kid,
            kty=k.kty,
            alg=k.alg,
            jwk=k.jwk,
            thumbprint=k.thumbprint,
            created_at=now,
            created_by=actor.name,
        )
        for k in keys
    )
    return [k.kid for k in keys]


def client_key_add(*, client: Client, keys: list[jwks.PublicKey], actor: Actor) -> list[ClientKey]:
    """Register more public keys for a private_key_jwt client (rotation: several may be active at once)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            client = _lock_client(actor, client.pk)
            authorize(actor, client=client)
            if client.auth_method != Client.AuthMethod.PRIVATE_KEY_JWT or client.jwks_uri:
                raise ValidationError(
                    "keys are added to a private_key_jwt client with registered keys (not a jwks_uri)",
                    code="not_a_key_client",
                )
            kids = _add_keys(client, keys, actor=actor, now=now)
            _audit(actor=actor, action="key.add", client=client, changes={"keys_added": [None, kids]})
    except IntegrityError:  # a concurrent add of the same kid committed first
        raise ValidationError("the client already has an active key with that kid", code="kid_taken") from None
    return list(client.keys.filter(kid__in=kids, retired_at__isnull=True))


def client_key_retire(*, client: Client, kid: str, actor: Actor) -> ClientKey:
    """Retire a key now (rotation, or a leaked private key): assertions it signs are refused and the tokens it
    minted end, including any being issued at this moment (their key's retired_at ends them at read time)."""
    now = timezone.now()
    with transaction.atomic():
        client = _lock_client(actor, client.pk)
        authorize(actor, client=client)
        key = client.keys.filter(kid=kid, retired_at__isnull=True).first()
        if key is None:
            raise ValidationError(f"client {client.client_id} has no active key {kid!r}", code="unknown_key")
        revoked = signals.tokens_ended(signals.key_retired.send(sender=ClientKey, key=key, now=now))
        key.retired_at = now
        key.retired_by = actor.name
        key.save(update_fields=["retired_at", "retired_by"])
        _audit(
            actor=actor,
            action="key.retire",
            client=client,
            changes={"kid": [kid, None], "tokens_revoked": [None, revoked]},
        )
    return key


def client_switch_auth(*, client: Client, credential: Credential, actor: Actor) -> NewSecret:
    """Change how a client authenticates (an audited change). Every live token ends, as do the old credentials
    (its secrets or keys): whoever held them must not keep the client's authority. Switching to a secret
    returns the new secret's plaintext, once."""
    credential.check()
    now = timezone.now()
    try:
        with transaction.atomic():
            client = _lock_client(actor, client.pk)
            authorize(actor, client=client)
            before = client.auth_method
            changes: dict[str, Any] = {"auth_method": [before, credential.auth_method]}
            changes["tokens_revoked"] = [None, _end_client_tokens(client, now, signals.client_tokens_revoked)]
            ended = _end_credentials(client, actor=actor, now=now)
            if ended:
                changes["credentials_retired"] = [ended, None]
            if client.trust is not None:
                changes["trust"] = [client.trust.name, None]
                changes["subject"] = [client.subject, None]
            if client.jwks_uri:
                changes["jwks_uri"] = [client.jwks_uri, None]
            client.auth_method = credential.auth_method
            client.jwks_uri = credential.jwks_uri
            client.trust = credential.trust
            client.subject = credential.subject
            client.save(update_fields=["auth_method", "jwks_uri", "trust", "subject", "updated_at"])
            changes.update(_set_up_credential(client, credential, actor=actor, now=now))
            secret = plaintext = None
            if credential.auth_method == Client.AuthMethod.SECRET:
                secret, plaintext = _new_secret(client=client, actor=actor, now=now)
                changes["secret"] = [None, secret.hint]
            _audit(actor=actor, action="client.switch_auth", client=client, changes=changes)
    except IntegrityError as error:
        raise _binding_taken(error, credential) from None
    return NewSecret(client=client, secret=secret, plaintext=plaintext)


def _end_credentials(client: Client, *, actor: Actor, now: datetime) -> list[str]:
    """Retire every valid secret and active key of the client; their hints and kids."""
    ended = []
    for secret in client.valid_secrets(now).filter(retired_at__isnull=True):
        secret.valid_until = now
        secret.retired_at = now
        secret.retired_by = actor.name
        secret.save(update_fields=["valid_until", "retired_at", "retired_by"])
        ended.append(secret.hint)
    keys = client.keys.filter(retired_at__isnull=True)
    ended += list(keys.values_list("kid", flat=True))
    keys.update(retired_at=now, retired_by=actor.name)
    return ended


def trust_create(
    *,
    name: str,
    issuer: str,
    audience: str,
    actor: Actor,
    keys: list[jwks.PublicKey] | None = None,
    jwks_uri: str = "",
    discover: bool = False,
    algorithms: Iterable[str] = ("RS256", "ES256"),
) -> Trust:
    """Register an external issuer whose tokens may authenticate the clients bound to it.

    A trust lets whoever controls the issuer's keys act as every bound client, so only unlimited actors (the
    command line, staff who may grant privileged access, gatehouse:admin tokens) register one.
    """
    if not actor.unlimited:
        raise ScopeNotHeld([ADMIN_SCOPE], "registering a trust", actor)
    if sum([keys is not None, bool(jwks_uri), discover]) != 1:
        raise ValidationError("a trust takes its keys from one of: a JWKS, a jwks_uri, discovery", code="key_source")
    algorithms = sorted(set(algorithms))
    unknown = sorted(set(algorithms) - set(jwks.ALGORITHMS))
    if unknown or not algorithms:
        raise ValidationError(
            f"algorithms must be some of {', '.join(jwks.ALGORITHMS)}; refused: {', '.join(unknown) or 'none given'}",
            code="bad_algorithms",
        )
    for url, what in ((jwks_uri, "jwks_uri"), (issuer if discover else "", "issuer")):
        if url:
            try:
                jwks.check_url(url)
            except jwks.JWKSError as error:
                raise ValidationError(f"{what}: {error}", code="bad_url") from None
    if not issuer.startswith(("https://", "http://")) or len(issuer) > 500:
        raise ValidationError("the issuer is an https:// URL of at most 500 characters", code="bad_issuer")
    trust = Trust(
        name=name,
        issuer=issuer,
        audience=audience,
        jwks={"keys": [k.jwk for k in keys]} if keys is not None else None,
        jwks_uri=jwks_uri,
        discover=discover,
        algorithms=algorithms,
        created_by=actor.name,
    )
    trust.full_clean()
    with transaction.atomic():
        _lock_caller(actor)
        trust.save()
        _audit(
            actor=actor,
            action="trust.create",
            target=f"trust {name}",
            changes={
                "issuer": [None, issuer],
                "audience": [None, audience],
                "keys": [None, trust.key_source],
                "algorithms": [None, algorithms],
            },
        )
    return trust


_UPDATABLE = ("name", "description", "owner", "contact", "can_introspect", "token_ttl", "resource_server")


def client_update(*, client: Client, actor: Actor, scopes: Iterable[str] | None = None, **fields: Any) -> Client:
    """Change a client's name, description, owner, contact, scopes, introspection right (and the resource server
    it introspects for: `resource_server`, None for a global introspector) or token lifetime.

    Removing any scope ends all of the client's live tokens (revoked, and its generation raised), rather than
    narrowing them: see docs/decisions.md. Taking away `can_introspect` also unbinds it from its resource server.
    """
    unknown = set(fields) - set(_UPDATABLE)
    if unknown:
        raise TypeError(f"client_update cannot change {', '.join(sorted(unknown))}")
    scopes = None if scopes is None else list(scopes)
    now = timezone.now()
    with transaction.atomic():
        client = _lock_client(actor, client.pk)
        introspects = fields.get("can_introspect", client.can_introspect)
        if not introspects:
            fields["resource_server"] = None
        binding = fields.get("resource_server", client.resource_server)
        if binding is not None and not introspects:
            raise ValidationError(
                {"resource": ["only a client that may introspect speaks for a resource server"]},
                code="not_introspector",
            )
        rebinding = introspects and (not client.can_introspect or binding != client.resource_server)
        authorize(
            actor,
            client=client,
            scopes=scopes or (),
            can_introspect=bool(fields.get("can_introspect")) or rebinding,
            introspects_for=binding,
        )
        if rebinding:
            _lock_resource_server(binding, "bind clients to it")
        changes: dict[str, list[Any]] = {}
        for name, value in fields.items():
            before = getattr(client, name)
            if before != value:
                setattr(client, name, value)
                key = "resource" if name == "resource_server" else name
                changes[key] = [_identifier(before), _identifier(value)] if key == "resource" else [before, value]
        client.full_clean()
        if scopes is not None:
            granted = _lock_scopes(scopes)
            before_names = client.scope_names()
            after_names = sorted(s.name for s in granted)
            if before_names != after_names:
                removed = sorted(set(before_names) - set(after_names))
                if removed:
                    ended = _end_client_tokens(client, now, signals.scopes_removed, removed=removed)
                    changes["tokens_revoked"] = [None, ended]
                client.scopes.set(granted)
                changes["scopes"] = [before_names, after_names]
        if changes:
            client.save()
            _audit(actor=actor, action="client.update", client=client, changes=changes)
    return client


def _end_client_tokens(client: Client, now: datetime, signal: Signal, **details: Any) -> int:
    """End every live token of the client; returns how many were revoked. Call with the client row locked.

    The receivers of `signal` (tokens) revoke the live tokens they can see; raising the generation also ends those
    whose INSERT is racing this transaction (they carry the old generation), so none survives the commit and none
    comes back later.
    """
    revoked = signals.tokens_ended(signal.send(sender=Client, client=client, now=now, **details))
    client.generation += 1
    client.save(update_fields=["generation"])
    return revoked


def client_disable(*, client: Client, actor: Actor) -> Client:
    """Disable a client: it can no longer authenticate and every live token it holds ends now."""
    now = timezone.now()
    with transaction.atomic():
        client = _lock_client(actor, client.pk)
        authorize(actor, client=client)
        if not client.is_active:
            return client
        revoked = _end_client_tokens(client, now, signals.client_disabled)
        client.is_active = False
        client.save(update_fields=["is_active", "updated_at"])
        _audit(
            actor=actor,
            action="client.disable",
            client=client,
            changes={"is_active": [True, False], "tokens_revoked": [None, revoked]},
        )
    return client


def client_enable(*, client: Client, actor: Actor) -> Client:
    """Enable a client again. Its old tokens stay dead: disabling raised its generation."""
    with transaction.atomic():
        client = _lock_client(actor, client.pk)
        authorize(actor, client=client)
        if client.is_active:
            return client
        client.is_active = True
        client.save(update_fields=["is_active", "updated_at"])
        _audit(actor=actor, action="client.enable", client=client, changes={"is_active": [False, True]})
    return client


def client_rotate_secret(*, client: Client, grace: timedelta, actor: Actor, revoke_tokens: bool = False) -> NewSecret:
    """Issue a new secret; the current ones stay valid for `grace` (0: end now). An end never moves later.

    Issued tokens stay live unless `revoke_tokens`, which ends them all in the same transaction.
    """
    grace = validate_grace(grace)
    now = timezone.now()
    end = now + grace
    with transaction.atomic():
        # The client row lock serialises concurrent rotations of the same client.
        client = _lock_client(actor, client.pk)
        authorize(actor, client=client)
        if client.auth_method != Client.AuthMethod.SECRET:
            raise ValidationError(
                f"client {client.client_id} authenticates by {client.auth_method}, not a secret: switch it first",
                code="not_a_secret_client",
            )
        current = list(client.valid_secrets(now))
        closed = {}
        for secret in current:
            ends = end_by(secret.valid_until, end)
            if ends != secret.valid_until:
                closed[secret.hint] = [secret.valid_until.isoformat() if secret.valid_until else None, ends.isoformat()]
                secret.valid_until = ends
                secret.save(update_fields=["valid_until"])
        secret, plaintext = _new_secret(client=client, actor=actor, now=now)
        previous_end = max((s.valid_until for s in current if s.valid_until), default=None)
        changes: dict[str, Any] = {
            "secret": [None, secret.hint],
            "grace_seconds": [None, int(grace.total_seconds())],
            **closed,
        }
        revoked = 0
        if revoke_tokens:
            revoked = _end_client_tokens(client, now, signals.client_tokens_revoked)
            changes["tokens_revoked"] = [None, revoked]
        _audit(actor=actor, action="secret.rotate", client=client, changes=changes)
    return NewSecret(
        client=client,
        secret=secret,
        plaintext=plaintext,
        previous_secret_expires_at=previous_end,
        tokens_revoked=revoked,
    )


def secret_retire(*, secret: ClientSecret, actor: Actor) -> ClientSecret:
    """End one secret now (e.g. a leaked one), and the tokens it minted, without touching the client's others."""
    now = timezone.now()
    with transaction.atomic():
        client = _lock_client(actor, secret.client_id)
        authorize(actor, client=client)
        secret = ClientSecret.objects.get(pk=secret.pk)
        if secret.retired_at is not None:
            return secret
        revoked = signals.tokens_ended(signals.secret_retired.send(sender=ClientSecret, secret=secret, now=now))
        before = secret.valid_until
        secret.valid_until = end_by(secret.valid_until, now)
        secret.retired_at = now
        secret.retired_by = actor.name
        secret.save(update_fields=["valid_until", "retired_at", "retired_by"])
        _audit(
            actor=actor,
            action="secret.retire",
            client=client,
            changes={
                secret.hint: [before.isoformat() if before else None, secret.valid_until.isoformat()],
                "tokens_revoked": [None, revoked],
            },
        )
    return secret


def client_revoke_tokens(*, client: Client, actor: Actor) -> int:
    """Revoke every live token of the client now; returns how many."""
    now = timezone.now()
    with transaction.atomic():
        client = _lock_client(actor, client.pk)
        authorize(actor, client=client)
        revoked = _end_client_tokens(client, now, signals.client_tokens_revoked)
        _audit(actor=actor, action="client.revoke_tokens", client=client, changes={"tokens_revoked": [None, revoked]})
    return revoked


def secrets_expiring(within: timedelta, now: datetime | None = None) -> Q:
    """Filter for secrets still valid now whose end falls within the given time."""
    now = now or timezone.now()
    return ClientSecret.valid_at(now) & Q(retired_at__isnull=True, valid_until__lte=now + within)


def client_flag_auth_failures(*, client_id: str, failures: int, address_groups: int, window: int) -> None:
    """Record that a client id failed authentication `failures` times within `window` seconds (tokens.throttle)."""
    AuditEvent.objects.create(
        actor_type=AuditEvent.ActorType.SYSTEM,
        actor="throttle",
        action=AUTH_FAILURES_ACTION,
        client=Client.objects.filter(client_id=client_id).first(),
        target=client_id,
        changes={"failures": failures, "address_groups": address_groups, "window_seconds": window},
    )


AUTH_FAILURES_ACTION = "client.auth_failures"


def trust_keys(trust: Trust) -> list[jwks.PublicKey]:
    """A trust's keys as Gatehouse would use them now: fetched afresh (the portal's and CLI's test button)."""
    if trust.jwks is not None:
        return jwks.parse_jwks(trust.jwks)
    url = jwks.discover_jwks_uri(trust.issuer) if trust.discover else trust.jwks_uri
    return jwks.fetch_jwks(url)


def trust_set_active(*, trust: Trust, active: bool, actor: Actor) -> int:
    """Disable (a compromised or retired issuer) or enable a trust; returns how many live tokens ended.

    Disabling refuses the issuer's tokens at once and ends every live token of the clients bound to it (their
    generation is raised, so a token being issued right now dies too); enabling revives none.
    """
    if not actor.unlimited:
        raise ScopeNotHeld([ADMIN_SCOPE], "disabling or enabling a trust", actor)
    now = timezone.now()
    with transaction.atomic():
        _lock_caller(actor)
        trust = Trust.objects.select_for_update().get(pk=trust.pk)
        if trust.is_active == active:
            return 0
        revoked = 0
        if not active:
            for client in Client.objects.select_for_update().filter(trust=trust).order_by("pk"):
                revoked += _end_client_tokens(client, now, signals.client_tokens_revoked)
        trust.is_active = active
        trust.save(update_fields=["is_active"])
        _audit(
            actor=actor,
            action="trust.enable" if active else "trust.disable",
            target=f"trust {trust.name}",
            changes={"is_active": [not active, active], "tokens_revoked": [None, revoked]},
        )
    return revoked
