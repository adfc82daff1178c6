"""Access tokens: opaque bearer tokens stored as digests, issued and checked in one SQL statement each.

The token and introspection paths are the two that services and resource servers hit on every call, so each
authenticates the client and does its work in a single statement (see docs/decisions.md). Times on this table
are Unix seconds: that is what RFC 7662 reports (`iat`, `exp`) and it keeps the SQL the same on every database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Max, Q

from clients import credentials
from clients.models import VALID_SECRET_SQL, Client, ClientKey, ClientSecret
from tokens.assertions import AssertionRefused, VerifiedAssertion

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
INSERT INTO tokens_accesstoken (digest, client_id, secret_id, scope, issued_at, expires_at, generation)
SELECT %s, c.id, s.id, {scope}, %s, %s + c.token_ttl, c.generation
FROM clients_clientsecret s JOIN clients_client c ON c.id = s.client_id
WHERE s.digest = %s AND c.client_id = %s AND c.is_active AND """
    + VALID_SECRET_SQL.format(alias="s")
    + """
  AND c.auth_method = 'client_secret'{check}
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
# A token minted by a private_key_jwt assertion has a key and no secret, a federated one neither: the credential
# joins are LEFT JOINs, and a missing credential row reads as "not retired".
LIVE_TOKEN_SQL = (
    "t.revoked_at IS NULL AND t.expires_at > %s AND tc.is_active AND t.generation = tc.generation"
    " AND ts.retired_at IS NULL AND tk.retired_at IS NULL"
)
_LIVE_TOKEN_JOINS = (
    "tokens_accesstoken t JOIN clients_client tc ON tc.id = t.client_id"
    " LEFT JOIN clients_clientsecret ts ON ts.id = t.secret_id"
    " LEFT JOIN clients_clientkey tk ON tk.id = t.key_id"
)

_INTROSPECT_SQL = f"""
SELECT rc.can_introspect, t.scope, t.issued_at, t.expires_at, tc.client_id
FROM clients_clientsecret rs
JOIN clients_client rc ON rc.id = rs.client_id
LEFT JOIN ({_LIVE_TOKEN_JOINS}) ON t.digest = %s AND {LIVE_TOKEN_SQL}
WHERE rs.digest = %s AND rc.client_id = %s AND rc.is_active AND {VALID_SECRET_SQL.format(alias="rs")}
  AND rc.auth_method = 'client_secret'
"""

# An assertion-authenticated grant (tokens.assertions has verified the JWT): record its jti and issue the token.
# On PostgreSQL one statement does both, and says whether the jti was new: a replay inserts nothing.
_ASSERTION_ISSUE_SQL = """
INSERT INTO tokens_accesstoken (digest, client_id, key_id, scope, issued_at, expires_at, generation)
SELECT %s, c.id, {key}, {scope}, %s, %s + c.token_ttl, c.generation
FROM clients_client c{key_join}
WHERE c.id = %s AND c.is_active AND c.auth_method = %s{check}
RETURNING scope, expires_at
"""
_KEY_JOIN = " JOIN clients_clientkey k ON k.client_id = c.id AND k.id = %s AND k.retired_at IS NULL"
_USE_JTI_SQL = (
    "INSERT INTO tokens_usedassertion (issuer, jti, expires_at) VALUES (%s, %s, %s)"
    " ON CONFLICT (issuer, jti) DO NOTHING RETURNING id"
)
_ASSERTION_ISSUE_ONCE_SQL = """
WITH used AS ({use}), issued AS ({issue_with_used})
SELECT (SELECT count(*) FROM used), issued.scope, issued.expires_at FROM (SELECT 1) AS one LEFT JOIN issued ON true
"""

_INTROSPECT_BY_PK_SQL = f"""
SELECT rc.can_introspect, t.scope, t.issued_at, t.expires_at, tc.client_id
FROM clients_client rc
LEFT JOIN ({_LIVE_TOKEN_JOINS}) ON t.digest = %s AND {LIVE_TOKEN_SQL}
WHERE rc.id = %s AND rc.is_active
"""

_BEARER_SQL = f"""
SELECT t.client_id, tc.client_id, t.scope, t.generation, t.secret_id, t.key_id
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
    secret_pk: int | None  # the secret that minted it, or
    key_pk: int | None = None  # the registered key (private_key_jwt); both None for jwks_uri and federated


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


def _assertion_issue_sql(vendor: str, scopes: list[str] | None, *, key: bool, once: bool) -> str:
    if scopes is None:
        scope, check = _ALL_SCOPES[vendor], ""
    else:
        names = ", ".join(["%s"] * len(scopes))
        scope, check = "%s", _SCOPE_CHECK.format(names=names, count=len(scopes))
    issue = _ASSERTION_ISSUE_SQL.format(
        key="k.id" if key else "NULL", scope=scope, key_join=_KEY_JOIN if key else "", check=check
    )
    if not once:
        return issue
    with_used = issue.replace("\nRETURNING", " AND EXISTS (SELECT 1 FROM used)\nRETURNING")
    return _ASSERTION_ISSUE_ONCE_SQL.format(use=_USE_JTI_SQL, issue_with_used=with_used.strip())


_ASSERTION_SQL_CACHE: dict[tuple[str, int | None, bool, bool], str] = {}


# Statement texts are built once per (database, number of scopes asked for), not per request.
_ISSUE_SQL_CACHE: dict[tuple[str, int | None], str] = {}


def _cached_issue_sql(vendor: str, scopes: list[str] | None) -> str:
    key = (vendor, None if scopes is None else len(scopes))
    sql = _ISSUE_SQL_CACHE.get(key)
    if sql is None:
        sql = _ISSUE_SQL_CACHE[key] = _issue_sql(vendor, scopes)
    return sql


def _assertion_method(verified: VerifiedAssertion) -> str:
    if verified.replay_scope.startswith("trust:"):
        return Client.AuthMethod.FEDERATED
    return Client.AuthMethod.PRIVATE_KEY_JWT


class AccessTokenManager(models.Manager["AccessToken"]):
    def issue(self, *, client_id: str, secret: str, scopes: list[str] | None, now: datetime) -> IssuedToken | None:
        """Authenticate the client and store a new token in one INSERT ... SELECT; None if either is refused.

        `scopes` None grants every scope the client holds; a list is granted exactly, or not at all.
        """
        if not credentials.is_well_formed(secret, credentials.CLIENT_SECRET_PREFIX):
            return None
        token = credentials.new_credential(credentials.ACCESS_TOKEN_PREFIX)
        epoch = int(now.timestamp())
        params: list[Any] = [credentials.digest(token)]
        if scopes is not None:
            params.append(" ".join(scopes))
        params += [epoch, epoch, credentials.digest(secret), client_id, connection.ops.adapt_datetimefield_value(now)]
        if scopes is not None:
            params += scopes
        with connection.cursor() as cursor:
            cursor.execute(_cached_issue_sql(connection.vendor, scopes), params)
            row = cursor.fetchone()
        if row is None:
            return None
        return IssuedToken(access_token=token, scope=row[0], expires_in=row[1] - epoch)

    def issue_for_assertion(
        self, *, verified: VerifiedAssertion, scopes: list[str] | None, now: datetime
    ) -> IssuedToken | None:
        """Record the assertion's jti and issue a token for the client it authenticated; None if refused.

        Raises AssertionRefused("replayed_jti") when the jti was used before. The jti stays used whatever
        happens next: an assertion is good for one attempt.
        """
        token = credentials.new_credential(credentials.ACCESS_TOKEN_PREFIX)
        epoch = int(now.timestamp())
        vendor = connection.vendor
        once = verified.jti is not None and vendor == "postgresql"
        key = verified.key_pk is not None
        cache_key = (vendor, None if scopes is None else len(scopes), key, once)
        sql = _ASSERTION_SQL_CACHE.get(cache_key)
        if sql is None:
            sql = _ASSERTION_SQL_CACHE[cache_key] = _assertion_issue_sql(vendor, scopes, key=key, once=once)
        params: list[Any] = []
        if once:
            params += self._jti_params(verified)
        params.append(credentials.digest(token))
        if scopes is not None:
            params.append(" ".join(scopes))
        params += [epoch, epoch]
        if key:
            params.append(verified.key_pk)
        params += [verified.client_pk, _assertion_method(verified)]
        if scopes is not None:
            params += scopes
        with connection.cursor() as cursor:
            if verified.jti is not None and not once:
                self.use_jti(verified, cursor=cursor)
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if once:
            if row[0] == 0:
                raise AssertionRefused("replayed_jti", verified.client_id)
            row = None if row[1] is None else row[1:]
        if row is None:
            return None
        return IssuedToken(access_token=token, scope=row[0], expires_in=row[1] - epoch)

    @staticmethod
    def _jti_params(verified: VerifiedAssertion) -> list[Any]:
        # Kept past `exp` by the clock leeway, so that a replay is refused as a replay, never accepted.
        return [verified.replay_scope, verified.jti, verified.expires_at + settings.GATEHOUSE_ASSERTION_LEEWAY]

    def use_jti(self, verified: VerifiedAssertion, *, cursor: Any = None) -> None:
        """Record the assertion's jti; AssertionRefused("replayed_jti") if it was recorded before."""
        if verified.jti is None:
            return
        if cursor is None:
            with connection.cursor() as own:
                return self.use_jti(verified, cursor=own)
        cursor.execute(_USE_JTI_SQL, self._jti_params(verified))
        if cursor.fetchone() is None:
            raise AssertionRefused("replayed_jti", verified.client_id)

    def introspect_for(self, *, caller_pk: int, token: str, now: datetime) -> Introspection:
        """Introspection for a caller already authenticated by assertion (its jti recorded): one SELECT."""
        with connection.cursor() as cursor:
            cursor.execute(_INTROSPECT_BY_PK_SQL, [credentials.digest(token), int(now.timestamp()), caller_pk])
            row = cursor.fetchone()
        if row is None:
            return Introspection(caller_authenticated=False)
        can_introspect, scope, issued_at, expires_at, token_client_id = row
        if not can_introspect:
            return Introspection(caller_authenticated=True)
        info = None if token_client_id is None else TokenInfo(token_client_id, scope, issued_at, expires_at)
        return Introspection(caller_authenticated=True, caller_may_introspect=True, token=info)

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
        client_pk, client_id, scope, generation, secret_pk, key_pk = row
        return Bearer(client_pk, client_id, frozenset(scope.split()), generation, secret_pk, key_pk)

    def revoke(self, *, client_pk: int, token: str, now: datetime) -> int:
        """Revoke one of the client's own live tokens; another client's or an unknown token is left alone."""
        return self.filter(digest=credentials.digest(token), client_id=client_pk, revoked_at__isnull=True).update(
            revoked_at=int(now.timestamp())
        )

    def purge(self, *, now: datetime, batch_size: int = 5000) -> int:
        """Delete expired and revoked tokens in short transactions of `batch_size` rows each.

        Before a batch goes, each secret's `last_used_at` takes the newest issue time among the batch's
        tokens, so the admin's "last used" survives the purge.
        """
        epoch = int(now.timestamp())
        dead = Q(expires_at__lte=epoch) | Q(revoked_at__isnull=False)
        total = 0
        while True:
            with transaction.atomic():
                ids = list(self.filter(dead).values_list("id", flat=True)[:batch_size])
                if not ids:
                    return total
                last_use = self.filter(id__in=ids).values("secret_id").annotate(last=Max("issued_at"))
                for row in last_use:
                    if row["secret_id"] is None:
                        continue
                    used = datetime.fromtimestamp(row["last"], tz=UTC)
                    ClientSecret.objects.filter(
                        Q(last_used_at__isnull=True) | Q(last_used_at__lt=used), pk=row["secret_id"]
                    ).update(last_used_at=used)
                key_use = self.filter(id__in=ids, key__isnull=False).values("key_id").annotate(last=Max("issued_at"))
                for key_row in key_use:
                    used = datetime.fromtimestamp(key_row["last"], tz=UTC)
                    ClientKey.objects.filter(
                        Q(last_used_at__isnull=True) | Q(last_used_at__lt=used), pk=key_row["key_id"]
                    ).update(last_used_at=used)
                self.filter(id__in=ids).delete()
            total += len(ids)

    def purge_used_assertions(self, *, now: datetime) -> int:
        """Delete the jti records of assertions that have expired (a replay of one is refused as expired)."""
        deleted, _ = UsedAssertion.objects.filter(expires_at__lte=int(now.timestamp())).delete()
        return deleted

    def live(self, now: datetime) -> models.QuerySet[AccessToken]:
        """Tokens live at `now`: LIVE_TOKEN_SQL for the ORM (counts, the revoking UPDATEs)."""
        return self.filter(
            revoked_at__isnull=True,
            expires_at__gt=int(now.timestamp()),
            client__is_active=True,
            generation=F("client__generation"),
            secret__retired_at__isnull=True,
            key__retired_at__isnull=True,
        )


class AccessToken(models.Model):
    """An issued token. `client` has no index of its own: per-client work goes through `secret`'s index."""

    digest = models.CharField(max_length=64, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="tokens", db_index=False)
    # The credential that minted it: a secret, a registered key (private_key_jwt), or neither (a jwks_uri key or a
    # federated assertion). Retiring a secret or a key ends the tokens it minted.
    secret = models.ForeignKey(
        ClientSecret, on_delete=models.CASCADE, related_name="tokens", db_index=False, null=True, blank=True
    )
    key = models.ForeignKey(
        ClientKey, on_delete=models.CASCADE, related_name="tokens", db_index=False, null=True, blank=True
    )
    scope = models.TextField(blank=True)
    issued_at = models.BigIntegerField(help_text="Unix seconds.")
    expires_at = models.BigIntegerField(help_text="Unix seconds.")
    revoked_at = models.BigIntegerField(null=True, blank=True, help_text="Unix seconds.")
    # The client's generation when the token was issued: the token is live only while the client's is the same.
    generation = models.BigIntegerField(default=0, db_default=0)

    objects = AccessTokenManager()

    class Meta:
        indexes = [
            models.Index(fields=["expires_at"], name="token_expiry"),
            models.Index(fields=["secret", "issued_at"], name="token_secret_issued"),
            models.Index(fields=["revoked_at"], name="token_revoked", condition=Q(revoked_at__isnull=False)),
            models.Index(fields=["key", "issued_at"], name="token_key_issued", condition=Q(key__isnull=False)),
            # Tokens minted without a secret (keys, federated), per client: what ending a client's tokens reads.
            models.Index(fields=["client"], name="token_client_no_secret", condition=Q(secret__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"token {self.pk} of client {self.client_id}"


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


class UsedAssertion(models.Model):
    """A client assertion's `jti`, kept until the assertion expires so that it is accepted once (RFC 7523 3).

    The unique (issuer, jti) is what refuses a replay across workers and instances: the row is inserted in the
    statement (PostgreSQL) or the transaction (SQLite) that issues the token. `issuer` is `client:<pk>` for a
    private_key_jwt client, `trust:<pk>` for a federated issuer. Expired rows go in `tokens purge`.
    """

    issuer = models.CharField(max_length=40)
    jti = models.CharField(max_length=255)
    expires_at = models.BigIntegerField(help_text="Unix seconds.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "jti"], name="assertion_used_once")]
        indexes = [models.Index(fields=["expires_at"], name="used_assertion_expiry")]

    def __str__(self) -> str:
        return f"{self.issuer} {self.jti}"
