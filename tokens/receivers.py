"""Tokens end with the registry changes that end their authority (clients.signals), in the same transaction."""

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from clients import signals
from clients.models import Client, ClientSecret
from tokens.models import AccessToken


@receiver(
    [signals.client_disabled, signals.scopes_removed, signals.client_tokens_revoked, signals.scope_moved],
    dispatch_uid="tokens.end_client",
)
def end_client_tokens(sender: Any, *, client: Client, now: datetime, **_: Any) -> int:
    """Revoke every live token of the client; returns how many."""
    return AccessToken.objects.live(now).filter(secret__client=client).update(revoked_at=int(now.timestamp()))


@receiver(signals.secret_retired, dispatch_uid="tokens.end_secret")
def end_secret_tokens(sender: Any, *, secret: ClientSecret, now: datetime, **_: Any) -> int:
    """Revoke the live tokens one secret minted (a token racing the retirement dies by its secret's retired_at)."""
    return AccessToken.objects.live(now).filter(secret=secret).update(revoked_at=int(now.timestamp()))
