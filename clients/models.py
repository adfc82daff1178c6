"""Who may ask for tokens: the scope catalogue, clients, their secret history and the audit trail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import connection, models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clients import credentials
from clients.limits import MAX_TOKEN_TTL

# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_NAME_PATTERN = r"^[\x21\x23-\x5B\x5D-\x7E]{1,128}$"

# The scopes that authorize Gatehouse's own management API, created by migrations (0004_api_scopes,
# 0006_resource_servers_scope; see docs/api.md). This is their one definition in the code.
CLIENTS_READ = "gatehouse:clients:read"
CLIENTS_WRITE = "gatehouse:clients:write"
AUDIT_READ = "gatehouse:audit:read"
RESOURCE_SERVERS_WRITE = "gatehouse:resource-servers:write"
ADMIN_SCOPE = "gatehouse:admin"
API_SCOPES = {
    CLIENTS_READ: "Management API: list and read clients, their secrets' metadata and scopes.",
    CLIENTS_WRITE: "Management API: register, change, rotate and disable clients; manage scopes.",
    AUDIT_READ: "Management API: read the audit trail.",
    RESOURCE_SERVERS_WRITE: (
        "Management API: manage resource servers and the clients that introspect for them "
        "(grant or change the introspection privilege; introspection sees every token)."
    ),
    ADMIN_SCOPE: "Management API: everything, and may grant any scope (not only those it holds).",
}
# Scope names in this namespace are Gatehouse's own: made by migrations only, never created, changed or deleted
# through the services (any case: GATEHOUSE:ADMIN is reserved too).
RESERVED_SCOPE_PREFIX = "gatehouse:"


def is_reserved_scope(name: str) -> bool:
    return name.lower().startswith(RESERVED_SCOPE_PREFIX)


def default_token_ttl() -> int:
    return settings.GATEHOUSE_DEFAULT_TOKEN_TTL


def validate_contact(value: str) -> None:
    """A client's contact is an email address or an http(s) URL (a chat channel, a runbook, an on-call page)."""
    for validator in (EmailValidator(), URLValidator(schemes=["http", "https"])):
        try:
            validator(value)
            return
        except ValidationError:
            continue
    raise ValidationError("Enter an email address or an http(s) URL.", code="invalid_contact")


def validate_grace(grace: int | float | timedelta) -> timedelta:
    """The grace rule of a rotation: from 0 up to GATEHOUSE_MAX_GRACE_SECONDS. Takes seconds or a timedelta and
    returns the timedelta; the portal, the command line and the API all ask here, so they say the same thing."""
    seconds = grace.total_seconds() if isinstance(grace, timedelta) else grace
    if seconds < 0:
        raise ValidationError("the grace period cannot be negative", code="negative_grace")
    if seconds > settings.GATEHOUSE_MAX_GRACE_SECONDS:
        raise ValidationError(f"the grace period can be at most {max_grace()}", code="grace_too_long")
    return grace if isinstance(grace, timedelta) else timedelta(seconds=seconds)


def max_grace() -> str:
    """GATEHOUSE_MAX_GRACE_SECONDS in words ("30 days"), for every surface that states the limit."""
    return _duration(settings.GATEHOUSE_MAX_GRACE_SECONDS)


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def secret_valid_at(valid_until: datetime | None, now: datetime) -> bool:
    """The rule for "this secret works at `now`": it has no end yet, or its end is later. Retiring a secret ends
    it now at the latest (services.secret_retire), so retirement needs no second test on the hot paths.
    VALID_SECRET_SQL and ClientSecret.valid_at() say the same to the database."""
    return valid_until is None or valid_until > now


# secret_valid_at() for raw SQL: format with the secret table's alias, bind `now` once.
VALID_SECRET_SQL = "({alias}.valid_until IS NULL OR {alias}.valid_until > %s)"


def end_by(valid_until: datetime | None, end: datetime) -> datetime:
    """A secret's end once asked to end by `end` (a rotation's grace, a retirement): an end never moves later."""
    return end if valid_until is None or valid_until > end else valid_until


# RFC 8707 section 2: a resource indicator is an absolute URI (RFC 3986 section 4.3) without a fragment. Gatehouse
# also keeps it to printable ASCII without spaces: tokens store their audience as identifiers separated by spaces.
RESOURCE_IDENTIFIER_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*:[\x21\x22\x24-\x7E]+$"
MAX_RESOURCE_IDENTIFIER = 255


def is_resource_identifier(value: str) -> bool:
    return len(value) <= MAX_RESOURCE_IDENTIFIER and re.fullmatch(RESOURCE_IDENTIFIER_PATTERN, value) is not None


class ResourceServer(models.Model):
    """An API that accepts Gatehouse tokens (RFC 8707's "resource"): it owns scopes, and tokens name it as audience.

    The identifier never changes and is never reused (retired rows stay), so a token's stored audience always
    means what it meant when the token was issued.
    """

    identifier = models.CharField(
        max_length=MAX_RESOURCE_IDENTIFIER,
        unique=True,
        validators=[
            RegexValidator(
                RESOURCE_IDENTIFIER_PATTERN,
                "A resource identifier is an absolute URI without a fragment or spaces, e.g. https://orders.example.com.",
            )
        ],
        help_text="An absolute URI without a fragment (RFC 8707), e.g. https://orders.example.com. It never changes.",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.CharField(max_length=200, blank=True, help_text="The team or person answering for it.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=200, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)
    retired_by = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["identifier"]
        constraints = [
            models.CheckConstraint(
                condition=Q(identifier__regex=RESOURCE_IDENTIFIER_PATTERN), name="resource_identifier_rfc8707"
            ),
        ]

    def __str__(self) -> str:
        return self.identifier

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class Scope(models.Model):
    name = models.CharField(
        max_length=128,
        unique=True,
        validators=[
            RegexValidator(
                SCOPE_NAME_PATTERN,
                "Scope names are 1-128 printable ASCII characters without spaces, quotes or backslashes.",
            )
        ],
    )
    description = models.TextField(blank=True)
    resource_server = models.ForeignKey(
        ResourceServer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="scopes",
        help_text="The resource server this scope belongs to; empty for a global scope.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(name__regex=SCOPE_NAME_PATTERN), name="scope_name_rfc6749"),
            # RFC 6749 scopes are case-sensitive, people are not: "Orders.Read" next to "orders.read" is a trap.
            models.UniqueConstraint(
                Lower("name"),
                name="scope_name_unique_ignoring_case",
                violation_error_message="A scope with this name already exists (names are compared ignoring case).",
                violation_error_code="duplicate_scope",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def resource(self) -> str | None:
        """The identifier of the resource server it belongs to; None for a global scope."""
        return self.resource_server.identifier if self.resource_server is not None else None


@dataclass(frozen=True)
class Authentication:
    """The outcome of checking a client id and secret: the client's key, or why it failed."""

    client_pk: int | None
    can_introspect: bool = False
    # unknown_client, wrong_secret, expired_secret, disabled_client, malformed_secret, wrong_auth_method
    failure: str = ""

    @property
    def ok(self) -> bool:
        return self.client_pk is not None


# One statement whatever the outcome, so an unknown client id costs the same as a wrong secret.
_AUTHENTICATE_SQL = """
SELECT c.id, c.is_active, c.can_introspect, s.id, s.valid_until, c.auth_method
FROM clients_client c
LEFT JOIN clients_clientsecret s ON s.client_id = c.id AND s.digest = %s
WHERE c.client_id = %s
"""


class ClientManager(models.Manager["Client"]):
    def named(self, name: str) -> models.QuerySet[Client]:
        """Clients with this name, ignoring case: names need not be unique, but a duplicate earns a warning."""
        return self.filter(name__iexact=name)

    def unusable_resources(self, client_pk: int, identifiers: list[str]) -> list[str]:
        """Of the `resource` values of a refused token request, those that are not an active resource server this
        client holds a scope of (RFC 8707 invalid_target). For the error answer only: the grant itself is checked
        in the token INSERT."""
        usable = set(
            Scope.objects.filter(
                clients=client_pk,
                resource_server__identifier__in=identifiers,
                resource_server__retired_at__isnull=True,
            ).values_list("resource_server__identifier", flat=True)
        )
        return [identifier for identifier in identifiers if identifier not in usable]

    def authenticate(self, client_id: str, secret: str, *, now: datetime) -> Authentication:
        """Check a presented client id and secret against the valid secrets of an active client."""
        if not credentials.is_well_formed(secret, credentials.CLIENT_SECRET_PREFIX):
            return Authentication(None, failure="malformed_secret")
        with connection.cursor() as cursor:
            cursor.execute(_AUTHENTICATE_SQL, [credentials.digest(secret), client_id])
            row = cursor.fetchone()
        if row is None:
            return Authentication(None, failure="unknown_client")
        pk, is_active, can_introspect, secret_pk, valid_until, auth_method = row
        if auth_method != Client.AuthMethod.SECRET:
            return Authentication(None, failure="wrong_auth_method")
        if secret_pk is None:
            return Authentication(None, failure="wrong_secret")
        if not secret_valid_at(_as_datetime(valid_until), now):
            return Authentication(None, failure="expired_secret")
        if not is_active:
            return Authentication(None, failure="disabled_client")
        return Authentication(pk, can_introspect=bool(can_introspect))


def _as_datetime(value: object) -> datetime | None:
    """A timestamp column read with a raw cursor: aware on PostgreSQL, naive UTC (or text) on SQLite."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is None:
        raise ValueError("unreadable timestamp in the database")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Trust(models.Model):
    """An external issuer whose JWTs authenticate bound clients (federated workload identity, RFC 7523 section 2.2).

    Its keys come from an inline JWKS, a `jwks_uri`, or the issuer's OIDC discovery document (exactly one).
    """

    name = models.CharField(max_length=100, unique=True, validators=[RegexValidator(r"^[a-z0-9][a-z0-9._-]{0,99}$")])
    issuer = models.CharField(max_length=500, unique=True, help_text="The `iss` its tokens carry, exactly.")
    jwks = models.JSONField(null=True, blank=True, help_text="Public keys as a JWKS, when pasted inline.")
    jwks_uri = models.CharField("JWKS URI", max_length=500, blank=True)
    discover = models.BooleanField(default=False, help_text="Find the jwks_uri in the issuer's OIDC discovery.")
    audience = models.CharField(max_length=500, help_text="The `aud` its tokens must carry for Gatehouse.")
    algorithms = models.JSONField(default=list, help_text="Signing algorithms accepted from this issuer.")
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(jwks__isnull=False, jwks_uri="", discover=False)
                    | Q(jwks__isnull=True, discover=False) & ~Q(jwks_uri="")
                    | Q(jwks__isnull=True, jwks_uri="", discover=True)
                ),
                name="trust_one_key_source",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def key_source(self) -> str:
        if self.jwks is not None:
            return "jwks"
        return "discovery" if self.discover else "jwks_uri"


class Client(models.Model):
    class AuthMethod(models.TextChoices):
        """How a client authenticates; one way at a time, switching is an audited change (clients.services)."""

        SECRET = "client_secret", "client secret"
        PRIVATE_KEY_JWT = "private_key_jwt", "private_key_jwt (its own key pair)"
        FEDERATED = "federated", "federated (a trusted issuer's token)"

    client_id = models.CharField(
        "client ID", max_length=64, unique=True, editable=False, default=credentials.new_client_id
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.CharField(max_length=200, blank=True, help_text="The team or person responsible for it.")
    contact = models.CharField(
        max_length=254, blank=True, validators=[validate_contact], help_text="An email address or an http(s) URL."
    )
    scopes = models.ManyToManyField(Scope, related_name="clients", blank=True, help_text="Scopes it may receive.")
    can_introspect = models.BooleanField(
        "may introspect", default=False, help_text="Resource servers may call the introspection endpoint."
    )
    resource_server = models.ForeignKey(
        ResourceServer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="introspectors",
        help_text="For a client that may introspect: the resource server it speaks for. Empty: a global "
        "introspector (a gateway), which sees every token.",
    )
    token_ttl = models.PositiveIntegerField(
        "token lifetime (seconds)",
        default=default_token_ttl,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TOKEN_TTL)],
    )
    is_active = models.BooleanField("active", default=True)
    auth_method = models.CharField(
        "authentication", max_length=20, choices=AuthMethod.choices, default=AuthMethod.SECRET
    )
    jwks_uri = models.CharField(
        "JWKS URI", max_length=500, blank=True, help_text="private_key_jwt: where its public keys are published."
    )
    trust = models.ForeignKey(
        Trust, on_delete=models.PROTECT, null=True, blank=True, related_name="clients", help_text="federated only"
    )
    subject = models.CharField(max_length=500, blank=True, help_text="federated: the `sub` its trust's tokens carry.")
    generation = models.BigIntegerField(
        default=0,
        db_default=0,
        editable=False,
        help_text="Raised by every change that reduces the client's authority; its tokens carry the value they "
        "were issued under and are live only while it is unchanged.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=200, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClientManager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(token_ttl__gte=1, token_ttl__lte=MAX_TOKEN_TTL), name="client_token_ttl_range"
            ),
            # Only an introspecting client speaks for a resource server.
            models.CheckConstraint(
                condition=Q(can_introspect=True) | Q(resource_server__isnull=True), name="client_resource_introspects"
            ),
            # A (trust, subject) identifies one workload: two clients bound to it would let it pick its authority.
            models.UniqueConstraint(
                fields=["trust", "subject"],
                condition=Q(trust__isnull=False),
                name="one_client_per_trust_subject",
                violation_error_message="This subject of this trust is already bound to another client.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(auth_method="federated", trust__isnull=False, jwks_uri="") & ~Q(subject="")
                    | ~Q(auth_method="federated") & Q(trust__isnull=True, subject="")
                ),
                name="client_federated_binding",
            ),
            models.CheckConstraint(
                condition=Q(auth_method="private_key_jwt") | Q(jwks_uri=""), name="client_jwks_uri_for_keys_only"
            ),
        ]
        permissions = [
            ("rotate_client_secret", "Can rotate and retire client secrets"),
            ("grant_privileged_access", "Can grant gatehouse:* scopes and the introspection privilege"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    def scope_names(self) -> list[str]:
        return sorted(scope.name for scope in self.scopes.all())

    @property
    def resource(self) -> str | None:
        """For an introspecting client: the identifier of the resource server it speaks for (None: global)."""
        return self.resource_server.identifier if self.resource_server is not None else None

    def valid_secrets(self, now: datetime | None = None) -> models.QuerySet[ClientSecret]:
        return self.secrets.filter(ClientSecret.valid_at(now or timezone.now()))


class ClientSecret(models.Model):
    """One secret a client has had. Only the digest is kept; `valid_until` NULL means until rotated."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="secrets")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=32, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=200, blank=True, editable=False)
    valid_until = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.CharField(max_length=200, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Only the newest secret is open-ended: a rotation closes the others first (and a race fails here).
            models.UniqueConstraint(
                fields=["client"], condition=Q(valid_until__isnull=True), name="one_open_ended_secret_per_client"
            ),
            models.CheckConstraint(
                condition=Q(retired_at__isnull=True) | Q(valid_until__isnull=False), name="retired_secret_has_end"
            ),
        ]

    def __str__(self) -> str:
        return self.hint

    class State(models.TextChoices):
        ACTIVE = "active"
        IN_GRACE = "in grace"
        EXPIRED = "expired"
        RETIRED = "retired"

    def state(self, now: datetime | None = None) -> ClientSecret.State:
        now = now or timezone.now()
        if self.retired_at is not None:
            return self.State.RETIRED
        if self.valid_until is None:
            return self.State.ACTIVE
        return self.State.IN_GRACE if secret_valid_at(self.valid_until, now) else self.State.EXPIRED

    @staticmethod
    def valid_at(now: datetime) -> Q:
        """secret_valid_at() as a filter."""
        return Q(valid_until__isnull=True) | Q(valid_until__gt=now)

    def last_used(self) -> datetime | None:
        """When a token was last issued with this secret (tokens purged since are remembered in last_used_at)."""
        newest = self.tokens.aggregate(newest=models.Max("issued_at"))["newest"]
        seen = datetime.fromtimestamp(newest, tz=UTC) if newest is not None else None
        return max((t for t in (seen, self.last_used_at) if t is not None), default=None)

    def is_valid(self, now: datetime | None = None) -> bool:
        return self.state(now) in (self.State.ACTIVE, self.State.IN_GRACE)


class ClientKey(models.Model):
    """One public key a private_key_jwt client has registered: its history is kept like a secret's.

    Several may be active at once (rotation: add the new key, move the workload, retire the old one). Retiring a
    key ends the tokens it minted (tokens.models.LIVE_TOKEN_SQL) and assertions signed by it are refused.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="keys")
    kid = models.CharField("key ID", max_length=200)
    kty = models.CharField("key type", max_length=8)
    alg = models.CharField("algorithm", max_length=10, blank=True)
    jwk = models.JSONField(help_text="The public key, as a JWK (never a private one: clients.jwks refuses those).")
    thumbprint = models.CharField(max_length=64, help_text="RFC 7638 SHA-256 thumbprint, base64url.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=200, blank=True, editable=False)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.CharField(max_length=200, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "kid"], condition=Q(retired_at__isnull=True), name="one_active_key_per_kid"
            ),
        ]

    def __str__(self) -> str:
        return self.kid

    @property
    def state(self) -> str:
        return "retired" if self.retired_at is not None else "active"

    def last_used(self) -> datetime | None:
        """When a token was last issued with this key (tokens purged since are remembered in last_used_at)."""
        newest = self.tokens.aggregate(newest=models.Max("issued_at"))["newest"]
        seen = datetime.fromtimestamp(newest, tz=UTC) if newest is not None else None
        return max((t for t in (seen, self.last_used_at) if t is not None), default=None)


class AuditEvent(models.Model):
    """An append-only record of one change to clients, secrets or scopes. Never holds a secret."""

    class ActorType(models.TextChoices):
        STAFF = "staff", "Staff"
        CLI = "cli", "CLI"
        API = "api", "API"
        SYSTEM = "system", "System"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor = models.CharField(max_length=200)
    address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=40, db_index=True)
    client = models.ForeignKey(Client, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events")
    target = models.CharField(max_length=200, blank=True, help_text="What was changed, in words: client id, scope.")
    changes = models.JSONField(default=dict, blank=True, help_text="Before and after of each changed field.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["client", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"
