"""Access tokens: opaque bearer tokens stored as digests, issued and checked in one SQL statement each.

The token and introspection paths are the two that services and resource servers hit on every call, so each
authenticates the client and does its work in a single statement (see docs/decisions.md). Times on this table
are Unix seconds: that is what RFC 7662 reports (`iat`, `exp`) and it keeps the SQL the same on every database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Count, F, Max, Q

from clients import credentials
from clients.models import VALID_SECRET_SQL, Client, ClientSecret

_SCOPE_ROWS = "FROM clients_client_scopes cs JOIN clients_scope sc ON sc.id = cs.scope_id WHERE cs.client_id = c.id"
# The client's allowed scopes as one space-separated, sorted string.
_ALL_SCOPES = {
    "postgresql": f"COALESCE((SELECT string_agg(sc.name, ' ' ORDER BY sc.name) {_SCOPE_ROWS}), '')",
    "sqlite": (
        f"COALESCE((SELECT group_concat(name, ' ') FROM (SELECT sc.name AS name {_SCOPE_ROWS} ORDER BY sc.name)), '')"
    ),
}
_ISSUE_SQL = (
    """
INSERT INTO tokens_accesstoken (digest, client_id, secret_id, scope, issued_at, expires_at, generation, address)
SELECT %s, c.id, s.id, {scope}, %s, %s + c.token_ttl, c.generation, %s
FROM clients_clientsecret s JOIN clients_client c ON c.id = s.client_id
WHERE s.digest = %s AND c.client_id = %s AND c.is_active AND """
    + VALID_SECRET_SQL.format(alias="s")
    + """{check}
RETURNING scope, expires_at
"""
)
_SCOPE_CHECK = f" AND (SELECT count(*) {_SCOPE_ROWS} AND sc.name IN ({{names}})) = {{count}}"

# What makes a token live, the one rule every reader applies (tokens `t`, its client `tc`, the secret that minted it
# `ts`; the parameter is now in Unix seconds). A change that reduces a client's authority (disable, removing a
# scope, rotating with revoke, revoke all) raises the client's generation in its transaction: a token whose INSERT
# raced the change read the old generation, so it is dead the moment the change commits, on every instance, and
# enabling the client again never revives it. A token whose secret is retired is dead too (checked here, at read
# time, so retiring one secret ends only the tokens that secret minted, including any that raced the retirement).
# `AccessTokenManager.live()` is the same rule for the ORM; tests/test_live_tokens.py holds the two together.
LIVE_TOKEN_SQL = (
    "t.revoked_at IS NULL AND t.expires_at > %s AND tc.is_active AND t.generation = tc.generation"
    " AND ts.retired_at IS NULL"
)
_LIVE_TOKEN_JOINS = (
    "tokens_accesstoken t JOIN clients_client tc ON tc.id = t.client_id"
    " JOIN clients_clientsecret ts ON ts.id = t.secret_id"
)

_INTROSPECT_SQL = f"""
SELECT rc.can_introspect, t.scope, t.issued_at, t.expires_at, tc.client_id
FROM clients_clientsecret rs
JOIN clients_client rc ON rc.id = rs.client_id
LEFT JOIN ({_LIVE_TOKEN_JOINS}) ON t.digest = %s AND {LIVE_TOKEN_SQL}
WHERE rs.digest = %s AND rc.client_id = %s AND rc.is_active AND {VALID_SECRET_SQL.format(alias="rs")}
"""

HOUR = 3600
# Adds to a counter, or starts it (the same text on PostgreSQL and SQLite).
_FOLD_SQL = """
INSERT INTO tokens_issuancecount (client_id, secret_id, hour, count) VALUES (%s, %s, %s, %s)
ON CONFLICT (secret_id, hour) DO UPDATE SET count = tokens_issuancecount.count + excluded.count
"""

_BEARER_SQL = f"""
SELECT t.client_id, tc.client_id, t.scope, t.generation, t.secret_id
FROM {_LIVE_TOKEN_JOINS}
WHERE t.digest = %s AND {LIVE_TOKEN_SQL}
"""


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    scope: str
    expires_in: int


@dataclass(frozen=True)
class TokenInfo:
    """What introspection may tell about a live token."""

    client_id: str
    scope: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class Bearer:
    """Who presented a live bearer token to the management API, what the token allows, and what it was issued
    under (its client's generation and its secret), so a write can check inside its transaction that it still holds.
    """

    client_pk: int
    client_id: str
    scopes: frozenset[str]
    generation: int
    secret_pk: int


@dataclass(frozen=True)
class Introspection:
    caller_authenticated: bool
    caller_may_introspect: bool = False
    token: TokenInfo | None = None


def _issue_sql(vendor: str, scopes: list[str] | None) -> str:
    if scopes is None:
        return _ISSUE_SQL.format(scope=_ALL_SCOPES[vendor], check="")
    names = ", ".join(["%s"] * len(scopes))
    return _ISSUE_SQL.format(scope="%s", check=_SCOPE_CHECK.format(names=names, count=len(scopes)))


# Statement texts are built once per (database, number of scopes asked for), not per request.
_ISSUE_SQL_CACHE: dict[tuple[str, int | None], str] = {}


def _cached_issue_sql(vendor: str, scopes: list[str] | None) -> str:
    key = (vendor, None if scopes is None else len(scopes))
    sql = _ISSUE_SQL_CACHE.get(key)
    if sql is None:
        sql = _ISSUE_SQL_CACHE[key] = _issue_sql(vendor, scopes)
    return sql


class AccessTokenManager(models.Manager["AccessToken"]):
    def issue(
        self, *, client_id: str, secret: str, scopes: list[str] | None, now: datetime, address: str | None = None
    ) -> IssuedToken | None:
        """Authenticate the client and store a new token in one INSERT ... SELECT; None if either is refused.

        `scopes` None grants every scope the client holds; a list is granted exactly, or not at all. `address` is
        the client's address, kept on the token for staff (the live-token lists).
        """
        if not credentials.is_well_formed(secret, credentials.CLIENT_SECRET_PREFIX):
            return None
        token = credentials.new_credential(credentials.ACCESS_TOKEN_PREFIX)
        epoch = int(now.timestamp())
        params: list[Any] = [credentials.digest(token)]
        if scopes is not None:
            params.append(" ".join(scopes))
        params += [epoch, epoch, address or None, credentials.digest(secret), client_id]
        params.append(connection.ops.adapt_datetimefield_value(now))
        if scopes is not None:
            params += scopes
        with connection.cursor() as cursor:
            cursor.execute(_cached_issue_sql(connection.vendor, scopes), params)
            row = cursor.fetchone()
        if row is None:
            return None
        return IssuedToken(access_token=token, scope=row[0], expires_in=row[1] - epoch)

    def introspect(self, *, caller_id: str, caller_secret: str, token: str, now: datetime) -> Introspection:
        """Authenticate the calling resource server and look the token up, in one SELECT."""
        if not credentials.is_well_formed(caller_secret, credentials.CLIENT_SECRET_PREFIX):
            return Introspection(caller_authenticated=False)
        params: list[Any] = [
            credentials.digest(token),
            int(now.timestamp()),
            credentials.digest(caller_secret),
            caller_id,
            connection.ops.adapt_datetimefield_value(now),
        ]
        with connection.cursor() as cursor:
            cursor.execute(_INTROSPECT_SQL, params)
            row = cursor.fetchone()
        if row is None:
            return Introspection(caller_authenticated=False)
        can_introspect, scope, issued_at, expires_at, token_client_id = row
        if not can_introspect:
            return Introspection(caller_authenticated=True)
        info = None if token_client_id is None else TokenInfo(token_client_id, scope, issued_at, expires_at)
        return Introspection(caller_authenticated=True, caller_may_introspect=True, token=info)

    def bearer(self, token: str, *, now: datetime) -> Bearer | None:
        """The client and scopes of a live token (LIVE_TOKEN_SQL), in one SELECT; None otherwise."""
        if not credentials.is_well_formed(token, credentials.ACCESS_TOKEN_PREFIX):
            return None
        with connection.cursor() as cursor:
            cursor.execute(_BEARER_SQL, [credentials.digest(token), int(now.timestamp())])
            row = cursor.fetchone()
        if row is None:
            return None
        client_pk, client_id, scope, generation, secret_pk = row
        return Bearer(client_pk, client_id, frozenset(scope.split()), generation, secret_pk)

    def revoke(self, *, client_pk: int, token: str, now: datetime) -> int:
        """Revoke one of the client's own live tokens; another client's or an unknown token is left alone."""
        return self.filter(digest=credentials.digest(token), client_id=client_pk, revoked_at__isnull=True).update(
            revoked_at=int(now.timestamp())
        )

    def purge(self, *, now: datetime, batch_size: int = 5000) -> int:
        """Delete expired and revoked tokens in short transactions of `batch_size` rows each.

        Each batch is folded first (`fold`), in the same transaction as its delete, so "last used" and the
        issuance counts are the same before and after a purge.
        """
        epoch = int(now.timestamp())
        dead = Q(expires_at__lte=epoch) | Q(revoked_at__isnull=False)
        total = 0
        while True:
            with transaction.atomic():
                ids = list(self.filter(dead).values_list("id", flat=True)[:batch_size])
                if not ids:
                    return total
                batch = self.filter(id__in=ids)
                self.fold(batch)
                batch.delete()
            total += len(ids)

    def fold(self, tokens: models.QuerySet[AccessToken]) -> None:
        """Remember what `tokens` (about to be deleted) tell about use: each secret's `last_used_at` takes their
        newest issue time, and their issues are added to the per-secret hourly `IssuanceCount`s.

        The one thing every way of deleting tokens calls first, inside the deleting transaction (the batched purge
        today; dropping a whole partition later): a token is counted in its row or in a counter, never both.
        """
        hours = (
            tokens.order_by()
            .annotate(hour=F("issued_at") - F("issued_at") % HOUR)
            .values_list("client_id", "secret_id", "hour")
            .annotate(n=Count("id"), last=Max("issued_at"))
        )
        counts: list[tuple[int, int, int, int]] = []
        last_use: dict[int, int] = {}
        for client_pk, secret_pk, hour, n, last in hours:  # one scan of the batch for both
            counts.append((client_pk, secret_pk, hour, n))
            last_use[secret_pk] = max(last, last_use.get(secret_pk, last))
        for secret_pk, last in last_use.items():
            used = datetime.fromtimestamp(last, tz=UTC)
            ClientSecret.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=used), pk=secret_pk).update(
                last_used_at=used
            )
        if counts:
            with connection.cursor() as cursor:
                cursor.executemany(_FOLD_SQL, counts)

    def live(self, now: datetime) -> models.QuerySet[AccessToken]:
        """Tokens live at `now`: LIVE_TOKEN_SQL for the ORM (counts, the revoking UPDATEs)."""
        return self.filter(
            revoked_at__isnull=True,
            expires_at__gt=int(now.timestamp()),
            client__is_active=True,
            generation=F("client__generation"),
            secret__retired_at__isnull=True,
        )


class AccessToken(models.Model):
    """An issued token. `client` has no index of its own: per-client work goes through `secret`'s index."""

    digest = models.CharField(max_length=64, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="tokens", db_index=False)
    secret = models.ForeignKey(ClientSecret, on_delete=models.CASCADE, related_name="tokens", db_index=False)
    scope = models.TextField(blank=True)
    issued_at = models.BigIntegerField(help_text="Unix seconds.")
    expires_at = models.BigIntegerField(help_text="Unix seconds.")
    revoked_at = models.BigIntegerField(null=True, blank=True, help_text="Unix seconds.")
    # The client's generation when the token was issued: the token is live only while the client's is the same.
    generation = models.BigIntegerField(default=0, db_default=0)
    address = models.GenericIPAddressField(null=True, blank=True, help_text="The client's address when it was issued.")

    objects = AccessTokenManager()

    class Meta:
        indexes = [
            models.Index(fields=["expires_at"], name="token_expiry"),
            models.Index(fields=["secret", "issued_at"], name="token_secret_issued"),
            models.Index(fields=["revoked_at"], name="token_revoked", condition=Q(revoked_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"token {self.pk} of client {self.client_id}"


class IssuanceCount(models.Model):
    """How many tokens a secret minted in one hour, for tokens already purged (`AccessTokenManager.fold`).

    Issued in a window = these counters + the token rows not purged yet (tokens/usage.py): the token request
    writes nothing here, and a purge moves counts from rows to counters without changing the sum.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    secret = models.ForeignKey(ClientSecret, on_delete=models.CASCADE, related_name="+")
    hour = models.BigIntegerField(help_text="Unix seconds of the hour's start (UTC).")
    count = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["secret", "hour"], name="one_issuance_count_per_secret_hour")]
        indexes = [models.Index(fields=["client", "hour"], name="issuance_client_hour")]

    def __str__(self) -> str:
        return f"{self.count} tokens by secret {self.secret_id} in hour {self.hour}"


class FailureCounter(models.Model):
    """One counter of the throttle (tokens/throttle.py): failures under `name` in a window ending at `expires_at`.

    Rows are written only by the throttle's upsert on the failure path; an expired row counts as zero and is
    deleted later (opportunistically on the failure path, and by `tokens purge`). Nothing culls a live row.
    """

    name = models.CharField(max_length=160, primary_key=True)
    hits = models.PositiveIntegerField()
    expires_at = models.BigIntegerField(help_text="Unix seconds.")

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="failure_counter_expiry")]

    def __str__(self) -> str:
        return f"{self.name}: {self.hits}"
