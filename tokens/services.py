"""Staff writes on tokens: revoking one token, audited, under the same grant rule as every registry change."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from clients.models import Client
from clients.services import Actor, _audit, _lock_client, authorize
from tokens.models import AccessToken


def token_revoke(*, token_id: int, actor: Actor, client: Client | None = None) -> bool:
    """Revoke one live token by its row id; False if it was no longer live (nothing changes, nothing is audited).

    Raises AccessToken.DoesNotExist for an unknown id, or one that is not `client`'s when a client is given.
    The actor must be allowed to manage the token's client; that is checked with the client row locked.
    """
    tokens = AccessToken.objects.filter(pk=token_id)
    if client is not None:
        tokens = tokens.filter(client_id=client.pk)
    client_pk = tokens.values_list("client_id", flat=True).first()
    if client_pk is None:
        raise AccessToken.DoesNotExist(f"unknown token: {token_id}")
    now = timezone.now()
    with transaction.atomic():
        owner = _lock_client(actor, client_pk)
        authorize(actor, client=owner)
        revoked = AccessToken.objects.live(now).filter(pk=token_id).update(revoked_at=int(now.timestamp()))
        if revoked:
            _audit(actor=actor, action="token.revoke", client=owner, changes={"token_id": [None, token_id]})
    return bool(revoked)
