"""factory-boy factories for Gatehouse's models.

Secrets and tokens made here keep their plaintext on the instance as `.plaintext` (tests only: the application
never keeps one). `ClientFactory` gives every client a first valid secret, reachable as `client.secret`,
unless called with `secret=False`.
"""

import factory
from django.utils import timezone

from clients import credentials
from clients.models import AuditEvent, Client, ClientKey, ClientSecret, ResourceServer, Scope, Trust
from tokens.models import AccessToken


def wrong_secret() -> str:
    """A well-formed client secret (prefix, length and checksum hold) that no client has: it passes the shape check
    and is looked up in the database, as an attacker's guess would be. A malformed one is refused before that."""
    return credentials.new_credential(credentials.CLIENT_SECRET_PREFIX)


class ResourceServerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResourceServer
        django_get_or_create = ("identifier",)

    identifier = factory.Sequence(lambda n: f"https://api-{n}.example.com")
    name = factory.Sequence(lambda n: f"API {n}")
    created_by = "factory"


class ScopeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scope
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"scope.{n}")
    description = factory.Faker("sentence")


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"service-{n}")
    can_introspect = False
    token_ttl = 3600
    created_by = "factory"

    @factory.post_generation
    def scopes(self, create, extracted, **kwargs):
        if create and extracted:
            self.scopes.set([ScopeFactory(name=s) if isinstance(s, str) else s for s in extracted])

    @factory.post_generation
    def secret(self, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        row = ClientSecretFactory(client=self)
        self.secret = row.plaintext
        self.secret_row = row


class ClientSecretFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClientSecret

    client = factory.SubFactory(ClientFactory, secret=False)
    created_by = "factory"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        plaintext = credentials.new_credential(credentials.CLIENT_SECRET_PREFIX)
        kwargs.setdefault("digest", credentials.digest(plaintext))
        kwargs.setdefault("hint", credentials.hint(plaintext))
        obj = super()._create(model_class, *args, **kwargs)
        obj.plaintext = plaintext
        return obj


def _now() -> int:
    return int(timezone.now().timestamp())


class AccessTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessToken

    client = factory.SubFactory(ClientFactory)
    secret = factory.LazyAttribute(lambda o: o.client.secrets.first())
    generation = factory.LazyAttribute(lambda o: o.client.generation)
    scope = ""
    issued_at = factory.LazyFunction(_now)
    expires_at = factory.LazyAttribute(lambda o: o.issued_at + 3600)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        plaintext = credentials.new_credential(credentials.ACCESS_TOKEN_PREFIX)
        kwargs.setdefault("digest", credentials.digest(plaintext))
        obj = super()._create(model_class, *args, **kwargs)
        obj.plaintext = plaintext
        return obj


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    actor_type = AuditEvent.ActorType.CLI
    actor = "tester"
    action = "client.update"


class KeyClientFactory(ClientFactory):
    """A private_key_jwt client with one registered EC P-256 key; its private half is `client.private_key`."""

    auth_method = Client.AuthMethod.PRIVATE_KEY_JWT

    @factory.post_generation
    def secret(self, create, extracted, **kwargs):
        """No secret: it authenticates with its key."""

    @factory.post_generation
    def key(self, create, extracted, **kwargs):
        from tests import jose

        private = extracted if extracted is not None else jose.ec_key()
        self.private_key = private
        if create:
            self.key_row = ClientKeyFactory(client=self, key=private)


class ClientKeyFactory(factory.django.DjangoModelFactory):
    """A registered public key; pass `key=` a joserfc private key (its public half is stored)."""

    class Meta:
        model = ClientKey

    client = factory.SubFactory(KeyClientFactory)
    created_by = "factory"

    @classmethod
    def _create(cls, model_class, *args, key=None, **kwargs):
        from tests import jose

        (public,) = jose.public_keys(key or jose.ec_key())
        kwargs.update(kid=public.kid, kty=public.kty, alg=public.alg, jwk=public.jwk, thumbprint=public.thumbprint)
        return super()._create(model_class, *args, **kwargs)


class TrustFactory(factory.django.DjangoModelFactory):
    """A trusted issuer with an inline JWKS made from `signing_key` (kept on the instance as `.signing_key`)."""

    class Meta:
        model = Trust

    name = factory.Sequence(lambda n: f"trust-{n}")
    issuer = factory.Sequence(lambda n: f"https://issuer-{n}.example.com")
    audience = "gatehouse"
    algorithms = ["ES256", "RS256"]
    created_by = "factory"

    @classmethod
    def _create(cls, model_class, *args, signing_key=None, **kwargs):
        from tests import jose

        signing_key = signing_key or jose.ec_key("issuer-1")
        if "jwks_uri" not in kwargs and not kwargs.get("discover"):
            kwargs.setdefault("jwks", jose.public_jwks(signing_key))
        obj = super()._create(model_class, *args, **kwargs)
        obj.signing_key = signing_key
        return obj


class FederatedClientFactory(ClientFactory):
    """A client bound to (trust, subject)."""

    auth_method = Client.AuthMethod.FEDERATED
    trust = factory.SubFactory(TrustFactory)
    subject = factory.Sequence(lambda n: f"system:serviceaccount:apps:worker-{n}")

    @factory.post_generation
    def secret(self, create, extracted, **kwargs):
        """No secret: it authenticates with its trust's tokens."""
