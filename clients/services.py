"""Every write to clients, secrets and scopes: the admin, the command line and the API all call these.

Each runs in one transaction and records an AuditEvent in it, so a change and its audit line land together.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clients import credentials
from clients.models import AuditEvent, Client, ClientSecret, IdempotencyKey, Scope


@dataclass(frozen=True)
class Actor:
    """Who is making a change, for the audit trail."""

    type: str
    name: str
    address: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(AuditEvent.ActorType.CLI, user)

    @classmethod
    def staff(cls, user: Any, address: str | None = None) -> Actor:
        return cls(AuditEvent.ActorType.STAFF, user.get_username(), address)

    @classmethod
    def api_client(cls, client_id: str, address: str | None = None) -> Actor:
        return cls(AuditEvent.ActorType.API, client_id, address)


class ScopeInUse(ValidationError):
    def __init__(self, scope: Scope, holders: list[Client]) -> None:
        self.holders = holders
        names = ", ".join(f"{c.name} ({c.client_id})" for c in holders)
        super().__init__(f"scope {scope.name} is held by {len(holders)} client(s): {names}", code="scope_in_use")


@dataclass(frozen=True)
class NewSecret:
    """A secret just made: the only moment its plaintext exists outside the client that receives it."""

    client: Client
    secret: ClientSecret
    plaintext: str
    previous_secret_expires_at: datetime | None = None


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


def _resolve_scopes(names: Iterable[str]) -> list[Scope]:
    wanted = sorted(set(names))
    found = list(Scope.objects.filter(name__in=wanted))
    missing = sorted(set(wanted) - {s.name for s in found})
    if missing:
        raise ValidationError(f"unknown scope: {', '.join(missing)}", code="unknown_scope")
    return found


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


def scope_create(*, name: str, description: str = "", actor: Actor) -> Scope:
    scope = Scope(name=name, description=description)
    scope.full_clean()
    with transaction.atomic():
        scope.save()
        _audit(actor=actor, action="scope.create", target=name, changes={"description": [None, description]})
    return scope


def scope_update(*, scope: Scope, description: str, actor: Actor) -> Scope:
    with transaction.atomic():
        before = scope.description
        scope.description = description
        scope.save(update_fields=["description"])
        _audit(actor=actor, action="scope.update", target=scope.name, changes={"description": [before, description]})
    return scope


def scope_delete(*, scope: Scope, actor: Actor) -> None:
    with transaction.atomic():
        holders = list(scope.clients.select_for_update().order_by("name"))
        if holders:
            raise ScopeInUse(scope, holders)
        _audit(
            actor=actor, action="scope.delete", target=scope.name, changes={"description": [scope.description, None]}
        )
        scope.delete()


def client_create(
    *,
    name: str,
    actor: Actor,
    description: str = "",
    scopes: Iterable[str] = (),
    can_introspect: bool = False,
    token_ttl: int | None = None,
) -> NewSecret:
    """Register a client with a first secret; the returned plaintext is shown once and never stored."""
    client = Client(name=name, description=description, can_introspect=can_introspect, created_by=actor.name)
    if token_ttl is not None:
        client.token_ttl = token_ttl
    client.full_clean()
    now = timezone.now()
    with transaction.atomic():
        granted = _resolve_scopes(scopes)
        client.created_at = now
        client.save()
        client.scopes.set(granted)
        secret, plaintext = _new_secret(client=client, actor=actor, now=now)
        _audit(
            actor=actor,
            action="client.create",
            client=client,
            changes={
                "name": [None, client.name],
                "description": [None, client.description],
                "scopes": [None, sorted(s.name for s in granted)],
                "can_introspect": [None, client.can_introspect],
                "token_ttl": [None, client.token_ttl],
                "secret": [None, secret.hint],
            },
        )
    return NewSecret(client=client, secret=secret, plaintext=plaintext)


_UPDATABLE = ("name", "description", "can_introspect", "token_ttl")


def client_update(*, client: Client, actor: Actor, scopes: Iterable[str] | None = None, **fields: Any) -> Client:
    """Change a client's name, description, scopes, introspection right or token lifetime."""
    unknown = set(fields) - set(_UPDATABLE)
    if unknown:
        raise TypeError(f"client_update cannot change {', '.join(sorted(unknown))}")
    with transaction.atomic():
        client = Client.objects.select_for_update().get(pk=client.pk)
        changes: dict[str, list[Any]] = {}
        for field, value in fields.items():
            before = getattr(client, field)
            if before != value:
                setattr(client, field, value)
                changes[field] = [before, value]
        client.full_clean()
        if scopes is not None:
            granted = _resolve_scopes(scopes)
            before_names = client.scope_names()
            after_names = sorted(s.name for s in granted)
            if before_names != after_names:
                client.scopes.set(granted)
                changes["scopes"] = [before_names, after_names]
        if changes:
            client.save()
            _audit(actor=actor, action="client.update", client=client, changes=changes)
    return client


def _revoke_live_tokens(client: Client, now: datetime) -> int:
    from tokens.models import AccessToken

    return AccessToken.objects.live(now).filter(secret__client=client).update(revoked_at=int(now.timestamp()))


def client_disable(*, client: Client, actor: Actor) -> Client:
    """Disable a client: it can no longer authenticate and every live token it holds is revoked now."""
    now = timezone.now()
    with transaction.atomic():
        client = Client.objects.select_for_update().get(pk=client.pk)
        if not client.is_active:
            return client
        client.is_active = False
        client.save(update_fields=["is_active", "updated_at"])
        revoked = _revoke_live_tokens(client, now)
        _audit(
            actor=actor,
            action="client.disable",
            client=client,
            changes={"is_active": [True, False], "tokens_revoked": [None, revoked]},
        )
    return client


def client_enable(*, client: Client, actor: Actor) -> Client:
    with transaction.atomic():
        client = Client.objects.select_for_update().get(pk=client.pk)
        if client.is_active:
            return client
        client.is_active = True
        client.save(update_fields=["is_active", "updated_at"])
        _audit(actor=actor, action="client.enable", client=client, changes={"is_active": [False, True]})
    return client


def client_rotate_secret(*, client: Client, grace: timedelta, actor: Actor) -> NewSecret:
    """Issue a new secret; the current ones stay valid for `grace` (0: end now). An end never moves later."""
    if grace < timedelta(0):
        raise ValidationError("the grace period cannot be negative", code="negative_grace")
    now = timezone.now()
    end = now + grace
    with transaction.atomic():
        # The client row lock serialises concurrent rotations of the same client.
        client = Client.objects.select_for_update().get(pk=client.pk)
        current = list(client.valid_secrets(now))
        closed = {}
        for secret in current:
            if secret.valid_until is None or secret.valid_until > end:
                closed[secret.hint] = [secret.valid_until.isoformat() if secret.valid_until else None, end.isoformat()]
                secret.valid_until = end
                secret.save(update_fields=["valid_until"])
        secret, plaintext = _new_secret(client=client, actor=actor, now=now)
        previous_end = max((s.valid_until for s in current if s.valid_until), default=None)
        _audit(
            actor=actor,
            action="secret.rotate",
            client=client,
            changes={"secret": [None, secret.hint], "grace_seconds": [None, int(grace.total_seconds())], **closed},
        )
    return NewSecret(client=client, secret=secret, plaintext=plaintext, previous_secret_expires_at=previous_end)


def secret_retire(*, secret: ClientSecret, actor: Actor) -> ClientSecret:
    """End one secret now (e.g. a leaked one) without touching the client's other secrets."""
    now = timezone.now()
    with transaction.atomic():
        Client.objects.select_for_update().filter(pk=secret.client_id).first()
        secret = ClientSecret.objects.get(pk=secret.pk)
        if secret.retired_at is not None:
            return secret
        before = secret.valid_until
        if secret.valid_until is None or secret.valid_until > now:
            secret.valid_until = now
        secret.retired_at = now
        secret.retired_by = actor.name
        secret.save(update_fields=["valid_until", "retired_at", "retired_by"])
        _audit(
            actor=actor,
            action="secret.retire",
            client=secret.client,
            changes={secret.hint: [before.isoformat() if before else None, secret.valid_until.isoformat()]},
        )
    return secret


def client_revoke_tokens(*, client: Client, actor: Actor) -> int:
    """Revoke every live token of the client now; returns how many."""
    now = timezone.now()
    with transaction.atomic():
        revoked = _revoke_live_tokens(client, now)
        _audit(actor=actor, action="client.revoke_tokens", client=client, changes={"tokens_revoked": [None, revoked]})
    return revoked


def secrets_expiring(within: timedelta, now: datetime | None = None) -> Q:
    """Filter for secrets still valid now whose end falls within the given time."""
    now = now or timezone.now()
    return Q(retired_at__isnull=True, valid_until__gt=now, valid_until__lte=now + within)


# The management API's grant rule (docs/api.md): a caller hands out, and manages clients holding, only scopes
# its own token carries, unless its token carries the admin scope.
ADMIN_SCOPE = "gatehouse:admin"


class ScopeNotHeld(PermissionDenied):
    def __init__(self, missing: Iterable[str], doing: str) -> None:
        self.missing = sorted(missing)
        super().__init__(f"{doing} needs scopes this caller does not hold: {', '.join(self.missing)}")


def ensure_may_grant(*, held: Iterable[str], scopes: Iterable[str]) -> None:
    """Refuse to grant scopes the caller does not hold itself, unless it holds the admin scope."""
    held = set(held)
    missing = set(scopes) - held
    if missing and ADMIN_SCOPE not in held:
        # Names that are no scope at all are left for client_create/update to refuse as unknown (a 400).
        missing = set(Scope.objects.filter(name__in=missing).values_list("name", flat=True))
        if missing:
            raise ScopeNotHeld(missing, "granting these scopes")


def ensure_may_manage(*, held: Iterable[str], client: Client) -> None:
    """Refuse to change a client that holds scopes the caller does not (rotating it would hand them over)."""
    held = set(held)
    missing = set(client.scope_names()) - held
    if missing and ADMIN_SCOPE not in held:
        raise ScopeNotHeld(missing, f"managing client {client.client_id}")


IDEMPOTENCY_WINDOW = timedelta(hours=24)


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key was sent before with a different request."""


@dataclass(frozen=True)
class Replay:
    """A create already made under this Idempotency-Key: the client it made, whose secret is not kept."""

    client: Client


def _fingerprint(fields: dict[str, Any]) -> str:
    canonical = {**fields, "scopes": sorted(set(fields.get("scopes", ())))}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def _create_once(*, caller_pk: int, key: str, fingerprint: str, actor: Actor, fields: dict) -> NewSecret | Replay:
    with transaction.atomic():
        # Keys are kept for a day: the caller's older ones go now, so the table holds one day of creates.
        IdempotencyKey.objects.filter(caller_id=caller_pk, created_at__lte=timezone.now() - IDEMPOTENCY_WINDOW).delete()
        previous = IdempotencyKey.objects.select_related("client").filter(caller_id=caller_pk, key=key).first()
        if previous is not None:
            if previous.fingerprint != fingerprint:
                raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used before with a different request")
            return Replay(previous.client)
        new = client_create(actor=actor, **fields)
        IdempotencyKey.objects.create(caller_id=caller_pk, key=key, fingerprint=fingerprint, client=new.client)
    return new


def client_create_idempotent(*, caller_pk: int, key: str, actor: Actor, **fields: Any) -> NewSecret | Replay:
    """client_create at most once per (calling client, key) within IDEMPOTENCY_WINDOW; a retry gets a Replay.

    Only a create that succeeded is remembered, so a retry of a refused request is checked afresh.
    """
    fingerprint = _fingerprint(fields)
    try:
        return _create_once(caller_pk=caller_pk, key=key, fingerprint=fingerprint, actor=actor, fields=fields)
    except IntegrityError:
        # A concurrent request with the same key committed first (the unique constraint refused ours, and our
        # client was rolled back with it): answer as a replay of that one.
        return _create_once(caller_pk=caller_pk, key=key, fingerprint=fingerprint, actor=actor, fields=fields)


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
