"""The management API's writes beyond the registry's services: a create made at most once per Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import IdempotencyKey
from clients.models import Client
from clients.services import SECRET, Actor, NewSecret, client_create

IDEMPOTENCY_WINDOW = timedelta(hours=24)


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key was sent before with a different request."""


@dataclass(frozen=True)
class Replay:
    """A create already made under this Idempotency-Key: the client it made, whose secret is not kept."""

    client: Client


def _fingerprint(fields: dict[str, Any]) -> str:
    canonical = {**fields, "scopes": sorted(set(fields.get("scopes", ())))}
    if canonical.get("credential") == SECRET:  # a secret client's fingerprint stays what it was before keys existed
        del canonical["credential"]
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
