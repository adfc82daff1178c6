"""What staff ask about use: a client's live tokens, how many tokens were issued when, each secret's last use.

Issued counts add the hourly counters of purged tokens (IssuanceCount, written by `AccessTokenManager.fold`: per
secret, and per client for tokens minted without a secret) to the token rows not purged yet, so a purge never changes them. Purged tokens are counted by the hour they were
issued in: a window starting mid-hour counts that whole hour's purged tokens (docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Sum

from clients.models import Client, ClientSecret
from tokens.models import HOUR, AccessToken, IssuanceCount

DAY = 86400


def of_client(client: Client) -> Q:
    """The client's tokens: those its secrets minted (through the secret index), and those minted without a secret
    (private_key_jwt, federated: through the partial index token_client_no_secret)."""
    return Q(secret__client=client) | Q(client=client, secret__isnull=True)


def live_tokens(client: Client, now: datetime) -> QuerySet[AccessToken]:
    """The client's live tokens, newest first, with the secret or key that minted each (never the token itself)."""
    return (
        AccessToken.objects.live(now)
        .filter(of_client(client))
        .select_related("secret", "key", "client")
        .only(
            "id",
            "scope",
            "issued_at",
            "expires_at",
            "address",
            "secret__hint",
            "secret__client_id",
            "key__kid",
            "key__client_id",
            "client__auth_method",
        )
        .order_by("-issued_at", "-id")
    )


def minted_by(token: AccessToken) -> str:
    """What minted a token, as staff see it: the secret's hint, `key:KID` (private_key_jwt with a registered key),
    `jwks_uri` (a key published at the client's jwks_uri) or `federated` (a trusted issuer's token)."""
    if token.secret is not None:
        return token.secret.hint
    if token.key is not None:
        return f"key:{token.key.kid}"
    return "federated" if token.client.auth_method == Client.AuthMethod.FEDERATED else "jwks_uri"


def describe_token(token: AccessToken) -> dict[str, Any]:
    """A live token as staff see it in every surface: its row id, never anything derived from the token.

    `secret` is the minting secret's hint and `key` the minting key's kid (each null otherwise); `minted_by` says
    which in one string (tokens.usage.minted_by)."""
    return {
        "id": token.pk,
        "scopes": token.scope.split(),
        "issued_at": _iso(token.issued_at),
        "expires_at": _iso(token.expires_at),
        "secret": token.secret.hint if token.secret is not None else None,
        "key": token.key.kid if token.key is not None else None,
        "minted_by": minted_by(token),
        "address": token.address,
    }


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def _epoch(now: datetime) -> int:
    return int(now.timestamp())


def issued_since(client: Client | None, since: datetime) -> int:
    """Tokens the client (None: every client) was issued from `since` on (purged ones by their issue hour)."""
    start = _epoch(since)
    # A token issued since then also expires after then (lifetimes are >= 1 s), so the expiry index narrows the scan.
    rows = AccessToken.objects.filter(issued_at__gte=start, expires_at__gt=start)
    folded = IssuanceCount.objects.filter(hour__gt=start - HOUR)
    if client is not None:
        rows, folded = rows.filter(of_client(client)), folded.filter(client=client)
    return rows.count() + (folded.aggregate(n=Sum("count"))["n"] or 0)


@dataclass(frozen=True)
class DailyIssuance:
    day: date
    count: int


def daily_issuance(client: Client, now: datetime, days: int = 7) -> list[DailyIssuance]:
    """Tokens issued per UTC day over the last `days` days, today included, oldest first."""
    today = _epoch(now) - _epoch(now) % DAY
    start = today - (days - 1) * DAY
    counts = dict.fromkeys(range(start, today + DAY, DAY), 0)
    rows = (
        AccessToken.objects.filter(of_client(client), issued_at__gte=start)
        .order_by()
        .annotate(day=F("issued_at") - F("issued_at") % DAY)
        .values_list("day")
        .annotate(n=Count("id"))
    )
    folded = (
        IssuanceCount.objects.filter(client=client, hour__gte=start)
        .order_by()
        .annotate(day=F("hour") - F("hour") % DAY)
        .values_list("day")
        .annotate(n=Sum("count"))
    )
    for day, n in [*rows, *folded]:
        if day in counts:
            counts[day] += n
    return [DailyIssuance(datetime.fromtimestamp(d, tz=UTC).date(), n) for d, n in counts.items()]


@dataclass(frozen=True)
class SecretUsage:
    """When a secret last minted a token, and how many it minted in the last 24 hours."""

    last_used: datetime | None
    issued_24h: int


def secret_usage(secrets: list[ClientSecret], now: datetime) -> dict[int, SecretUsage]:
    """Usage of each of `secrets`, in two queries whatever their number."""
    pks = [s.pk for s in secrets]
    since = _epoch(now - timedelta(hours=24))
    rows = {
        r["secret_id"]: r
        for r in AccessToken.objects.filter(secret_id__in=pks)
        .order_by()
        .values("secret_id")
        .annotate(newest=Max("issued_at"), recent=Count("id", filter=Q(issued_at__gte=since)))
    }
    folded = dict(
        IssuanceCount.objects.filter(secret_id__in=pks, hour__gt=since - HOUR)
        .order_by()
        .values_list("secret_id")
        .annotate(n=Sum("count"))
    )
    usage = {}
    for secret in secrets:
        row: dict[str, Any] = dict(rows.get(secret.pk, {}))
        newest = datetime.fromtimestamp(row["newest"], tz=UTC) if row.get("newest") is not None else None
        last = max((t for t in (newest, secret.last_used_at) if t is not None), default=None)
        usage[secret.pk] = SecretUsage(last, row.get("recent", 0) + (folded.get(secret.pk) or 0))
    return usage
