"""Tokens end with the registry changes that end their authority (clients.signals), in the same transaction."""

from datetime import datetime
from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from clients import signals
from clients.models import AuditEvent, Client, ClientKey, ClientSecret
from tokens import replicas
from tokens.models import AccessToken


@receiver(
    [signals.client_disabled, signals.scopes_removed, signals.client_tokens_revoked, signals.scope_moved],
    dispatch_uid="tokens.end_client",
)
def end_client_tokens(sender: Any, *, client: Client, now: datetime, **_: Any) -> int:
    """Revoke every live token of the client, whatever minted it (a secret, a key, a federated assertion); returns
    how many. Secret-minted tokens are found through the secret index, the others through token_client_no_secret.
    """
    live = AccessToken.objects.live(now)
    revoked_at = int(now.timestamp())
    by_secret = live.filter(secret__client=client).update(revoked_at=revoked_at)
    return by_secret + live.filter(client=client, secret__isnull=True).update(revoked_at=revoked_at)


@receiver(signals.key_retired, dispatch_uid="tokens.end_key")
def end_key_tokens(sender: Any, *, key: ClientKey, now: datetime, **_: Any) -> int:
    """Revoke the live tokens one key minted (a token racing the retirement dies by its key's retired_at)."""
    return AccessToken.objects.live(now).filter(key=key).update(revoked_at=int(now.timestamp()))


@receiver(signals.secret_retired, dispatch_uid="tokens.end_secret")
def end_secret_tokens(sender: Any, *, secret: ClientSecret, now: datetime, **_: Any) -> int:
    """Revoke the live tokens one secret minted (a token racing the retirement dies by its secret's retired_at)."""
    return AccessToken.objects.live(now).filter(secret=secret).update(revoked_at=int(now.timestamp()))


@receiver(post_save, sender=AuditEvent, dispatch_uid="tokens.wait_for_replicas")
def wait_for_replicas_after_change(sender: Any, *, created: bool, **_: Any) -> None:
    """Every registry change records an audit event in its transaction: once it commits, wait until the read replicas
    have applied it (tokens.replicas), so no replica answers "active" for authority it ended. Nothing without replicas.
    """
    if created:
        replicas.after_commit()
