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
from django.db.models import Count, F, Max, Q

from clients import credentials
from clients.models import VALID_SECRET_SQL, Client, ClientKey, ClientSecret
from tokens import partitions, replicas
from tokens.assertions import AssertionRefused, VerifiedAssertion

# Granting: the client's scopes with the resource server each belongs to (NULL: a global scope), each marked
# `granted` (what the token receives) and `targeted` (a named resource this client holds a scope of). The token
# stores its scopes, each scope's resource server ("*" for global) in the same order, and its audience, all
# computed here from the rows the INSERT reads, so the grant and the rows it was checked against cannot differ.
_GRANT_ROWS = (
    "FROM clients_client_scopes cs JOIN clients_scope sc ON sc.id = cs.scope_id"
    " LEFT JOIN clients_resourceserver r ON r.id = sc.resource_server_id WHERE cs.client_id = c.id"
)
_GRANT = {
    # One pass over the client's scopes, aggregated in a LATERAL subquery.
    "postgresql": (
        "CROSS JOIN LATERAL (SELECT"
        " COALESCE(string_agg(sc.name, ' ' ORDER BY {order}) FILTER (WHERE {granted}), '') AS scope,"
        " COALESCE(string_agg(COALESCE(r.identifier, '*'), ' ' ORDER BY {order}) FILTER (WHERE {granted}), '')"
        " AS owners,"
        " COALESCE(string_agg(DISTINCT r.identifier, ' ' ORDER BY r.identifier) FILTER (WHERE {granted}), '')"
        " AS audience,"
        " count(*) FILTER (WHERE {granted}) AS granted,"
        " count(DISTINCT r.identifier) FILTER (WHERE {targeted}) AS targets"
        f" {_GRANT_ROWS}) g"
    ),
    "sqlite": "",
}
# SQLite has no LATERAL: one correlated subquery per value, over the same rows (in the order of the scopes asked
# for, else by name, which group_concat follows) and the same conditions.
_SQLITE_ROWS = (
    "SELECT sc.name AS name, COALESCE(r.identifier, '*') AS owner, r.identifier AS identifier,"
    " {granted} AS granted, {targeted} AS targeted"
    f" {_GRANT_ROWS} ORDER BY {{order}}"
)
_GRANTED = {
    "postgresql": {
        "scope": "g.scope",
        "owners": "g.owners",
        "audience": "g.audience",
        "granted": "g.granted",
        "targets": "g.targets",
    },
    "sqlite": {
        "scope": f"(SELECT COALESCE(group_concat(name, ' '), '') FROM ({_SQLITE_ROWS}) WHERE granted)",
        "owners": f"(SELECT COALESCE(group_concat(owner, ' '), '') FROM ({_SQLITE_ROWS}) WHERE granted)",
        "audience": (
            "(SELECT COALESCE(group_concat(identifier, ' '), '') FROM (SELECT DISTINCT identifier"
            f" FROM ({_SQLITE_ROWS}) WHERE granted AND identifier IS NOT NULL ORDER BY identifier))"
        ),
        "granted": f"(SELECT count(*) FROM ({_SQLITE_ROWS}) WHERE granted)",
        "targets": f"(SELECT count(DISTINCT identifier) FROM ({_SQLITE_ROWS}) WHERE targeted)",
    },
}
# One token INSERT for every way a client authenticates: `{source}` and `{authenticated}` say who the client is
# (a secret below, or an assertion already verified); the grant, audience and row written are the same.
_ISSUE_SQL = """
INSERT INTO tokens_accesstoken
    (digest, client_id, secret_id, key_id, scope, scope_resources, audience, issued_at, expires_at, generation, address)
SELECT %(token)s, c.id, {secret}, {key}, {scope}, {owners}, {audience}, %(now)s, %(now)s + c.token_ttl, c.generation,
    %(address)s
FROM {source} {lateral}
WHERE {authenticated}{check}
RETURNING scope, expires_at
"""
_SECRET_SOURCE = "clients_clientsecret s JOIN clients_client c ON c.id = s.client_id"
_SECRET_AUTHENTICATED = (
    "s.digest = %(secret)s AND c.client_id = %(client_id)s AND c.is_active AND "
    # The one definition of a valid secret, with its `now` as this statement's named parameter.
    + VALID_SECRET_SQL.format(alias="s").replace("%s", "%(at)s")
    + " AND c.auth_method = 'client_secret'"
)
GLOBAL = "*"  # the resource server of a global scope, in AccessToken.scope_resources

# What makes a token live, the one rule every reader applies (tokens `t`, its client `tc`, the secret that minted it
# `ts`; the parameter is now in Unix seconds). A change that reduces a client's authority (disable, removing a
# scope, rotating with revoke, revoke all) raises the client's generation in its transaction: a token whose INSERT
# raced the change read the old generation, so it is dead the moment the change commits, on every instance, and
# enabling the client again never revives it. A token whose secret is retired is dead too (checked here, at read
# time, so retiring one secret ends only the tokens that secret minted, including any that raced the retirement).
# `AccessTokenManager.live()` is the same rule for the ORM; tests/test_live_tokens.py holds the two together.
# A token minted by a private_key_jwt assertion has a key and no secret, a federated one neither: the credential
# joins are LEFT JOINs, and a missing credential row reads as "not retired".
# The two parameters are now and `tokens.partitions.horizon(now)` (`live_params`): no live token expires after the
# horizon, and bounding the expiry on both sides lets PostgreSQL prune the partitioned table to the one or two
# day partitions that can hold a live token (tokens/partitions.py).
LIVE_TOKEN_SQL = (
    "t.revoked_at IS NULL AND t.expires_at > %s AND t.expires_at <= %s AND tc.is_active AND t.generation = tc.generation"
    " AND ts.retired_at IS NULL AND tk.retired_at IS NULL"
)
_LIVE_TOKEN_JOINS = (
    "tokens_accesstoken t JOIN clients_client tc ON tc.id = t.client_id"
    " LEFT JOIN clients_clientsecret ts ON ts.id = t.secret_id"
    " LEFT JOIN clients_clientkey tk ON tk.id = t.key_id"
)

# The caller's resource server comes with it (rr; NULL for a global introspector): which tokens are active for it
# and which of their scopes it sees is decided from the token row (tokens.models.audience_view), no query more.
_INTROSPECT_SQL = f"""
SELECT rc.can_introspect, rr.identifier, rr.retired_at, t.scope, t.scope_resources, t.audience, t.issued_at,
    t.expires_at, tc.client_id
FROM clients_clientsecret rs
JOIN clients_client rc ON rc.id = rs.client_id
LEFT JOIN clients_resourceserver rr ON rr.id = rc.resource_server_id
LEFT JOIN ({_LIVE_TOKEN_JOINS}) ON t.digest = %s AND {LIVE_TOKEN_SQL}
WHERE rs.digest = %s AND rc.client_id = %s AND rc.is_active AND {VALID_SECRET_SQL.format(alias="rs")}
  AND rc.auth_method = 'client_secret'
"""

# An assertion-authenticated grant (tokens.assertions has verified the JWT): record its jti and issue the token,
# with the same grant as the secret path (_issue_sql). On PostgreSQL one statement does both, and says whether the
# jti was new: a replay inserts nothing.
_ASSERTION_SOURCE = {
    False: "clients_client c",
    True: "clients_client c JOIN clients_clientkey k ON k.client_id = c.id AND k.id = %(key)s AND k.retired_at IS NULL",
}
_ASSERTION_AUTHENTICATED = "c.id = %(client_pk)s AND c.is_active AND c.auth_method = %(method)s"
_USE_JTI_SQL = (
    "INSERT INTO tokens_usedassertion (issuer, jti, expires_at) VALUES (%(issuer)s, %(jti)s, %(jti_expires)s)"
    " ON CONFLICT (issuer, jti) DO NOTHING RETURNING id"
)
_ASSERTION_ISSUE_ONCE_SQL = """
WITH used AS ({use}), issued AS ({issue_with_used})
SELECT (SELECT count(*) FROM used), issued.scope, issued.expires_at FROM (SELECT 1) AS one LEFT JOIN issued ON true
"""

# The same columns as _INTROSPECT_SQL, for a caller already authenticated by assertion (by its primary key).
_INTROSPECT_BY_PK_SQL = f"""
SELECT rc.can_introspect, rr.identifier, rr.retired_at, t.scope, t.scope_resources, t.audience, t.issued_at,
    t.expires_at, tc.client_id
FROM clients_client rc
LEFT JOIN clients_resourceserver rr ON rr.id = rc.resource_server_id
LEFT JOIN ({_LIVE_TOKEN_JOINS}) ON t.digest = %s AND {LIVE_TOKEN_SQL}
WHERE rc.id = %s AND rc.is_active
"""

HOUR = 3600
# Adds to a counter, or starts it (the same text on PostgreSQL and SQLite).
_FOLD_SQL = """
INSERT INTO tokens_issuancecount (client_id, secret_id, hour, count) VALUES (%s, %s, %s, %s)
ON CONFLICT (secret_id, hour) DO UPDATE SET count = tokens_issuancecount.count + excluded.count
"""
# Tokens minted without a secret are counted per client (the partial unique constraint on client and hour).
_FOLD_NO_SECRET_SQL = """
INSERT INTO tokens_issuancecount (client_id, secret_id, hour, count) VALUES (%s, NULL, %s, %s)
ON CONFLICT (client_id, hour) WHERE secret_id IS NULL DO UPDATE SET count = tokens_issuancecount.count + excluded.count
"""


def _summed(counts: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(client, hour, n) rows with one row per (client, hour): several keys of a client fold into one counter."""
    sums: dict[tuple[int, int], int] = {}
    for client_pk, hour, n in counts:
        sums[client_pk, hour] = sums.get((client_pk, hour), 0) + n
    return [(client_pk, hour, n) for (client_pk, hour), n in sums.items()]


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
    """What introspection may tell about a live token, as the calling resource server may see it: `scope` holds
    only the scopes of that resource server or global ones, `audience` its identifier (a global introspector: all)."""

    client_id: str
    scope: str
    issued_at: int
    expires_at: int
    audience: tuple[str, ...] = ()
    global_view: bool = True  # asked by a global introspector (else `audience` is the caller's one identifier)


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


def live_params(now: datetime) -> list[int]:
    """LIVE_TOKEN_SQL's parameters for `now`."""
    epoch = int(now.timestamp())
    return [epoch, partitions.horizon(epoch)]


def _names(prefix: str, count: int) -> str:
    return ", ".join(f"%({prefix}{i})s" for i in range(count))


def _issue_sql(vendor: str, n_scopes: int | None, n_resources: int | None, *, via: str = "secret") -> str:
    """The token INSERT for `n_scopes` scopes asked for (None: all) and `n_resources` resources named (None: none).

    Granted: the scopes asked for, or all the client holds, that are global or belong to a named resource server;
    each named resource must be an active resource server the client holds a scope of (`targets`), and every scope
    asked for must be granted, or nothing is inserted. Without resources, the audience is the resource servers of
    the granted scopes.

    `via` is how the client authenticated: "secret" (the secret in the same statement), "key" (an assertion signed
    by a registered key, which must still be active) or "assertion" (a jwks_uri key or a federated trust).
    """
    conditions = []
    if n_scopes is not None:
        conditions.append(f"sc.name IN ({_names('s', n_scopes)})")
    if n_resources is not None:
        conditions.append(f"(sc.resource_server_id IS NULL OR r.identifier IN ({_names('r', n_resources)}))")
    granted = " AND ".join(conditions) or "TRUE"
    targeted = (
        f"r.identifier IN ({_names('r', n_resources)}) AND r.retired_at IS NULL" if n_resources is not None else "FALSE"
    )
    # The token's scopes in the order they were asked for (else by name); their resource servers in the same order.
    order = "sc.name"
    if n_scopes is not None:
        order = "CASE sc.name " + " ".join(f"WHEN %(s{i})s THEN {i}" for i in range(n_scopes)) + " END"
    values = {k: v.format(granted=granted, targeted=targeted, order=order) for k, v in _GRANTED[vendor].items()}
    check = ""
    if n_scopes is not None:
        check += f" AND {values['granted']} = {n_scopes}"
    if n_resources is not None:
        check += f" AND {values['targets']} = {n_resources}"
    if via == "secret":
        source, authenticated = _SECRET_SOURCE, _SECRET_AUTHENTICATED
    else:
        source, authenticated = _ASSERTION_SOURCE[via == "key"], _ASSERTION_AUTHENTICATED
    return _ISSUE_SQL.format(
        secret="s.id" if via == "secret" else "NULL",
        key="k.id" if via == "key" else "NULL",
        source=source,
        authenticated=authenticated,
        scope=values["scope"],
        owners=values["owners"],
        audience="%(audience)s" if n_resources is not None else values["audience"],
        lateral=_GRANT[vendor].format(granted=granted, targeted=targeted, order=order),
        check=check,
    )


def _assertion_issue_sql(vendor: str, n_scopes: int | None, n_resources: int | None, *, key: bool, once: bool) -> str:
    """The token INSERT for an assertion-authenticated client; with `once`, in one statement with its jti's INSERT."""
    issue = _issue_sql(vendor, n_scopes, n_resources, via="key" if key else "assertion")
    if not once:
        return issue
    with_used = issue.replace("\nRETURNING", " AND EXISTS (SELECT 1 FROM used)\nRETURNING")
    return _ASSERTION_ISSUE_ONCE_SQL.format(use=_USE_JTI_SQL, issue_with_used=with_used.strip())


_ASSERTION_SQL_CACHE: dict[tuple[str, int | None, int | None, bool, bool], str] = {}


# Statement texts are built once per (database, number of scopes asked for, number of resources), not per request.
_ISSUE_SQL_CACHE: dict[tuple[str, int | None, int | None], str] = {}


def _cached_issue_sql(vendor: str, n_scopes: int | None, n_resources: int | None) -> str:
    key = (vendor, n_scopes, n_resources)
    sql = _ISSUE_SQL_CACHE.get(key)
    if sql is None:
        sql = _ISSUE_SQL_CACHE[key] = _issue_sql(vendor, n_scopes, n_resources)
    return sql


def audience_view(
    resource: str | None, scope: str, scope_resources: str, audience: str
) -> tuple[str, tuple[str, ...]] | None:
    """What the introspecting resource server `resource` (None: a global introspector) may see of a live token:
    (its scopes, its audience), or None if the token is not for it.

    The token's scopes are stored with the resource server of each (`scope_resources`, same order) as they were when
    it was issued; moving a scope to another resource server ends the tokens that carry it (clients.services), so
    for a live token these are still true.
    """
    targets = tuple(audience.split())
    if resource is None:
        return scope, targets
    if resource not in targets:
        return None
    owners = scope_resources.split()
    names = scope.split()
    if len(owners) != len(names):  # issued by a release that did not record them: show nothing it cannot vouch for
        return "", (resource,)
    seen = " ".join(name for name, owner in zip(names, owners, strict=True) if owner in (GLOBAL, resource))
    return seen, (resource,)


def _assertion_method(verified: VerifiedAssertion) -> str:
    if verified.replay_scope.startswith("trust:"):
        return Client.AuthMethod.FEDERATED
    return Client.AuthMethod.PRIVATE_KEY_JWT


def _introspection(row: tuple[Any, ...] | None) -> Introspection:
    """Introspection from a row of _INTROSPECT_SQL or _INTROSPECT_BY_PK_SQL (None: the caller is not authenticated)."""
    if row is None:
        return Introspection(caller_authenticated=False)
    can_introspect, resource, retired_at, scope, scope_resources, audience, issued_at, expires_at, holder = row
    if not can_introspect:
        return Introspection(caller_authenticated=True)
    info = None
    # A retired resource server's introspectors see every token as inactive (none can be for it anyway).
    if holder is not None and retired_at is None:
        seen = audience_view(resource, scope, scope_resources, audience)
        if seen is not None:
            info = TokenInfo(holder, seen[0], issued_at, expires_at, seen[1], global_view=resource is None)
    return Introspection(caller_authenticated=True, caller_may_introspect=True, token=info)


def _introspect(sql: str, params: list[Any], token: str) -> Introspection:
    """Run an introspection SELECT: on the primary, one statement; with replicas (tokens.replicas), on one of them
    first, and again on the primary unless the replica found an active token (never a false "inactive"), or the
    token is not one we could have issued (no prefix or checksum) and the replica authenticated the caller."""
    if replicas.ALIASES:
        row = replicas.fetchone(sql, params)
        if row is not replicas.UNAVAILABLE:
            result = _introspection(row)
            if result.token is not None or (
                result.caller_may_introspect and not credentials.is_well_formed(token, credentials.ACCESS_TOKEN_PREFIX)
            ):
                replicas.answered("replica")
                return result
            replicas.answered("rechecked")
        else:
            replicas.answered("primary")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _introspection(cursor.fetchone())


class AccessTokenManager(models.Manager["AccessToken"]):
    def issue(
        self,
        *,
        client_id: str,
        secret: str,
        scopes: list[str] | None,
        now: datetime,
        resources: list[str] | None = None,
        address: str | None = None,
    ) -> IssuedToken | None:
        """Authenticate the client and store a new token in one INSERT ... SELECT; None if either is refused.

        `scopes` None grants every scope the client holds (of the named resource servers, and global ones); a list
        is granted exactly, or not at all. `resources` (RFC 8707, None: none named) sets the token's audience.
        """
        if not credentials.is_well_formed(secret, credentials.CLIENT_SECRET_PREFIX):
            return None
        token = credentials.new_credential(credentials.ACCESS_TOKEN_PREFIX)
        epoch = int(now.timestamp())
        params: dict[str, Any] = {
            "token": credentials.digest(token),
            "now": epoch,
            "secret": credentials.digest(secret),
            "client_id": client_id,
            "at": connection.ops.adapt_datetimefield_value(now),
            "address": address or None,
        }
        if scopes is not None:
            params.update((f"s{i}", name) for i, name in enumerate(scopes))
        if resources is not None:
            resources = sorted(set(resources))
            params.update((f"r{i}", identifier) for i, identifier in enumerate(resources))
            params["audience"] = " ".join(resources)
        sql = _cached_issue_sql(
            connection.vendor, None if scopes is None else len(scopes), None if resources is None else len(resources)
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        return IssuedToken(access_token=token, scope=row[0], expires_in=row[1] - epoch)

    def issue_for_assertion(
        self,
        *,
        verified: VerifiedAssertion,
        scopes: list[str] | None,
        now: datetime,
        resources: list[str] | None = None,
        address: str | None = None,
    ) -> IssuedToken | None:
        """Record the assertion's jti and issue a token for the client it authenticated; None if refused.

        The grant is the secret path's (`issue`): the same scopes, resource indicators and audience. Raises
        AssertionRefused("replayed_jti") when the jti was used before. The jti stays used whatever happens next:
        an assertion is good for one attempt.
        """
        token = credentials.new_credential(credentials.ACCESS_TOKEN_PREFIX)
        epoch = int(now.timestamp())
        vendor = connection.vendor
        once = verified.jti is not None and vendor == "postgresql"
        key = verified.key_pk is not None
        params: dict[str, Any] = {
            "token": credentials.digest(token),
            "now": epoch,
            "client_pk": verified.client_pk,
            "method": _assertion_method(verified),
            "address": address or None,
        }
        if key:
            params["key"] = verified.key_pk
        if once:
            params.update(self._jti_params(verified))
        if scopes is not None:
            params.update((f"s{i}", name) for i, name in enumerate(scopes))
        if resources is not None:
            resources = sorted(set(resources))
            params.update((f"r{i}", identifier) for i, identifier in enumerate(resources))
            params["audience"] = " ".join(resources)
        cache_key = (vendor, None if scopes is None else len(scopes), None if resources is None else len(resources))
        sql = _ASSERTION_SQL_CACHE.get((*cache_key, key, once))
        if sql is None:
            sql = _ASSERTION_SQL_CACHE[(*cache_key, key, once)] = _assertion_issue_sql(*cache_key, key=key, once=once)
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
    def _jti_params(verified: VerifiedAssertion) -> dict[str, Any]:
        # Kept past `exp` by the clock leeway, so that a replay is refused as a replay, never accepted.
        return {
            "issuer": verified.replay_scope,
            "jti": verified.jti,
            "jti_expires": verified.expires_at + settings.GATEHOUSE_ASSERTION_LEEWAY,
        }

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
        """Introspection for a caller already authenticated by assertion (its jti recorded): one SELECT, the same
        audience rule as `introspect`."""
        return _introspect(_INTROSPECT_BY_PK_SQL, [credentials.digest(token), *live_params(now), caller_pk], token)

    def introspect(self, *, caller_id: str, caller_secret: str, token: str, now: datetime) -> Introspection:
        """Authenticate the calling resource server and look the token up, in one SELECT."""
        if not credentials.is_well_formed(caller_secret, credentials.CLIENT_SECRET_PREFIX):
            return Introspection(caller_authenticated=False)
        params: list[Any] = [
            credentials.digest(token),
            *live_params(now),
            credentials.digest(caller_secret),
            caller_id,
            connection.ops.adapt_datetimefield_value(now),
        ]
        return _introspect(_INTROSPECT_SQL, params, token)

    def bearer(self, token: str, *, now: datetime) -> Bearer | None:
        """The client and scopes of a live token (LIVE_TOKEN_SQL), in one SELECT; None otherwise."""
        if not credentials.is_well_formed(token, credentials.ACCESS_TOKEN_PREFIX):
            return None
        with connection.cursor() as cursor:
            cursor.execute(_BEARER_SQL, [credentials.digest(token), *live_params(now)])
            row = cursor.fetchone()
        if row is None:
            return None
        client_pk, client_id, scope, generation, secret_pk, key_pk = row
        return Bearer(client_pk, client_id, frozenset(scope.split()), generation, secret_pk, key_pk)

    def revoke(self, *, client_pk: int, token: str, now: datetime) -> int:
        """Revoke one of the client's own unexpired tokens; another client's or an unknown token is left alone. The
        expiry bounds (LIVE_TOKEN_SQL's) keep PostgreSQL to the partitions that can hold it."""
        epoch, horizon = live_params(now)
        return self.filter(
            digest=credentials.digest(token),
            client_id=client_pk,
            revoked_at__isnull=True,
            expires_at__gt=epoch,
            expires_at__lte=horizon,
        ).update(revoked_at=epoch)

    def purge(self, *, now: datetime, batch_size: int = 5000, fold_duty: float = partitions.FOLD_DUTY) -> int:
        """Remove expired and revoked tokens; returns how many. Every token removed is folded first (`fold`), in
        the transaction that removes it, so "last used" and the issuance counts are the same before and after.

        On PostgreSQL the table is partitioned by expiry (tokens/partitions.py): the day partitions ahead are
        created, each partition whose every token has expired is folded and dropped whole, and what is left to
        delete row by row (in transactions of `batch_size` rows) is revoked tokens and any expired token that landed
        in the default partition. `fold_duty` paces the reading of a partition (1: as fast as it goes). On SQLite
        every expired or revoked token is deleted row by row.
        """
        epoch = int(now.timestamp())
        total = 0
        partitioned = partitions.is_partitioned()
        if partitioned:
            partitions.ensure(epoch)
            for partition in partitions.expired(epoch):
                total += partitions.drop(partition, self.fold_counts, duty=fold_duty) or 0
        dead = Q(revoked_at__isnull=False) if partitioned else Q(expires_at__lte=epoch) | Q(revoked_at__isnull=False)
        sources = [lambda n: list(self.filter(dead).values_list("id", flat=True)[:n])]
        if partitioned:
            sources.append(lambda n: partitions.default_expired_ids(epoch, n))
        for dead_ids in sources:
            while True:
                with transaction.atomic():
                    ids = dead_ids(batch_size)
                    if not ids:
                        break
                    batch = self.filter(id__in=ids)
                    self.fold(batch)
                    batch.delete()
                total += len(ids)
        return total

    def fold(self, tokens: models.QuerySet[AccessToken]) -> None:
        """Remember what `tokens` (about to be deleted) tell about use (`fold_counts`), read in one scan."""
        hours = (
            tokens.order_by()
            .annotate(hour=F("issued_at") - F("issued_at") % HOUR)
            .values_list("client_id", "secret_id", "key_id", "hour")
            .annotate(n=Count("id"), last=Max("issued_at"))
        )
        self.fold_counts(list(hours))

    def fold_counts(self, counts: partitions.Counts) -> None:
        """Remember what tokens about to be deleted tell about use, given as (client, secret, key, hour, how many,
        newest issue time) rows: each secret's and each key's `last_used_at` takes their newest issue time, and
        their issues are added to the hourly `IssuanceCount`s: per secret, and per client for tokens minted without
        a secret (private_key_jwt, federated).

        The one thing every way of removing tokens calls first, inside the removing transaction (a batch of the
        row-by-row purge, a dropped partition): a token is counted in its row or in a counter, never both.
        """
        by_secret: list[tuple[int, int, int, int]] = []
        by_client: list[tuple[int, int, int]] = []
        secret_use: dict[int, int] = {}
        key_use: dict[int, int] = {}
        for client_pk, secret_pk, key_pk, hour, n, last in counts:
            if secret_pk is not None:
                by_secret.append((client_pk, secret_pk, hour, n))
                secret_use[secret_pk] = max(last, secret_use.get(secret_pk, last))
            else:
                by_client.append((client_pk, hour, n))
            if key_pk is not None:
                key_use[key_pk] = max(last, key_use.get(key_pk, last))
        for model, uses in ((ClientSecret, secret_use), (ClientKey, key_use)):
            for pk, last in uses.items():
                used = datetime.fromtimestamp(last, tz=UTC)
                model.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=used), pk=pk).update(
                    last_used_at=used
                )
        with connection.cursor() as cursor:
            if by_secret:
                cursor.executemany(_FOLD_SQL, by_secret)
            if by_client:
                cursor.executemany(_FOLD_NO_SECRET_SQL, _summed(by_client))

    def purge_used_assertions(self, *, now: datetime) -> int:
        """Delete the jti records of assertions that have expired (a replay of one is refused as expired)."""
        deleted, _ = UsedAssertion.objects.filter(expires_at__lte=int(now.timestamp())).delete()
        return deleted

    def live(self, now: datetime) -> models.QuerySet[AccessToken]:
        """Tokens live at `now`: LIVE_TOKEN_SQL for the ORM (counts, the revoking UPDATEs)."""
        epoch, horizon = live_params(now)
        return self.filter(
            revoked_at__isnull=True,
            expires_at__gt=epoch,
            expires_at__lte=horizon,
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
    # The resource server of each scope in `scope`, in the same order, as identifiers ("*": a global scope), and the
    # token's audience (RFC 8707): the identifiers of the resource servers it is for, sorted, separated by spaces.
    scope_resources = models.TextField(blank=True, default="", db_default="")
    audience = models.TextField(blank=True, default="", db_default="")
    issued_at = models.BigIntegerField(help_text="Unix seconds.")
    expires_at = models.BigIntegerField(help_text="Unix seconds.")
    revoked_at = models.BigIntegerField(null=True, blank=True, help_text="Unix seconds.")
    # The client's generation when the token was issued: the token is live only while the client's is the same.
    generation = models.BigIntegerField(default=0, db_default=0)
    address = models.GenericIPAddressField(null=True, blank=True, help_text="The client's address when it was issued.")

    objects = AccessTokenManager()

    class Meta:
        # No index on expires_at alone: a lookup by digest must always take the digest index (on PostgreSQL, the
        # partitions' (digest, expires_at)); with an expiry index beside it, a generic plan made while a partition
        # had no statistics scanned every live token of the day (docs/decisions.md). Expiry is the partition key.
        indexes = [
            models.Index(fields=["secret", "issued_at"], name="token_secret_issued"),
            models.Index(fields=["revoked_at"], name="token_revoked", condition=Q(revoked_at__isnull=False)),
            models.Index(fields=["key", "issued_at"], name="token_key_issued", condition=Q(key__isnull=False)),
            # Tokens minted without a secret (keys, federated), per client: what ending a client's tokens reads.
            models.Index(fields=["client"], name="token_client_no_secret", condition=Q(secret__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"token {self.pk} of client {self.client_id}"


class IssuanceCount(models.Model):
    """How many tokens a secret minted in one hour, for tokens already purged (`AccessTokenManager.fold`); with no
    secret, how many tokens the client got in that hour by assertion (private_key_jwt, federated).

    Issued in a window = these counters + the token rows not purged yet (tokens/usage.py): the token request
    writes nothing here, and a purge moves counts from rows to counters without changing the sum.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    secret = models.ForeignKey(ClientSecret, on_delete=models.CASCADE, related_name="+", null=True, blank=True)
    hour = models.BigIntegerField(help_text="Unix seconds of the hour's start (UTC).")
    count = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["secret", "hour"], name="one_issuance_count_per_secret_hour"),
            models.UniqueConstraint(
                fields=["client", "hour"], name="one_issuance_count_per_client_hour", condition=Q(secret__isnull=True)
            ),
        ]
        indexes = [models.Index(fields=["client", "hour"], name="issuance_client_hour")]

    def __str__(self) -> str:
        by = f"secret {self.secret_id}" if self.secret_id is not None else f"client {self.client_id} by assertion"
        return f"{self.count} tokens by {by} in hour {self.hour}"


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


class ReplicaState(models.Model):
    """Whether a read replica may answer introspection, shared by every process through the primary (docs/replicas.md).

    "in": readers use it and authority-reducing writes wait for it; "joining": writes wait for it, readers do not yet
    (the first half of a rejoin, tokens/replicas.py); "out": neither. Rows are written by tokens.replicas only.
    """

    class State(models.TextChoices):
        IN = "in", "In service"
        JOINING = "joining", "Joining"
        OUT = "out", "Out of service"

    name = models.CharField(max_length=200, unique=True, help_text="host:port of the replica.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.JOINING)
    changed_at = models.DateTimeField(auto_now=True)
    reason = models.CharField(max_length=200, blank=True)
    lag = models.FloatField(null=True, blank=True, help_text="Seconds behind the primary when the state changed.")

    def __str__(self) -> str:
        return f"{self.name}: {self.state}"
