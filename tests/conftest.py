"""Shared fixtures: HTTP helpers for the OAuth endpoints and ready-made clients."""

import base64
import os
from urllib.parse import quote_plus

import dj_database_url
import pytest
from django.test import Client as HttpClient

from tests.factories import ClientFactory

REPLICA_ALIAS = "test_replica"  # with GATEHOUSE_TEST_REPLICA_URL on PostgreSQL (pytest_configure)


def basic(client_id: str, secret: str) -> str:
    """An Authorization header value for client_secret_basic (RFC 6749 2.3.1: form-encode, then base64)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class OAuthHttp:
    """Posts forms to the OAuth endpoints the way a client library would."""

    def __init__(self) -> None:
        self.http = HttpClient()

    def post(
        self,
        path: str,
        data: dict | str | bytes = b"",
        *,
        auth: tuple[str, str] | None = None,
        content_type: str = "application/x-www-form-urlencoded",
        **headers,
    ):
        if isinstance(data, dict):
            from urllib.parse import urlencode

            data = urlencode(data)
        if auth:
            headers["HTTP_AUTHORIZATION"] = basic(*auth)
        return self.http.generic("POST", path, data, content_type=content_type, **headers)

    def token(self, client, **form):
        form.setdefault("grant_type", "client_credentials")
        return self.post("/oauth/token", form, auth=(client.client_id, client.secret))

    def introspect(self, caller, token: str, **form):
        return self.post("/oauth/introspect", {"token": token, **form}, auth=(caller.client_id, caller.secret))

    def revoke(self, client, token: str, **form):
        return self.post("/oauth/revoke", {"token": token, **form}, auth=(client.client_id, client.secret))


def pytest_collection_modifyitems(items):
    """`slow`: live servers (pytest-django's or gunicorn's, tests/live.py) and browsers, found by what they use;
    tests that start a subprocess say so themselves. `pytest -m "not slow"` is the quick loop."""
    live = {"live_server", "live_database_url"}
    for item in items:
        if item.get_closest_marker("browser") or live & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_configure(config):
    # The live server's request threads must not keep database connections open past a request, or PostgreSQL
    # refuses to drop the test database at the end of the run.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    replica_url = os.environ.get("GATEHOUSE_TEST_REPLICA_URL")
    if replica_url and settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # tests/test_replicas.py: a streaming replica (.ci/replica.sh) mirroring the test database, as a configured
        # replica alias does (Django's TEST MIRROR copies the name). Not named replica_*: the rest of the suite runs
        # without replicas; the replica tests turn it on (tokens.replicas.configure).
        replica = dj_database_url.parse(replica_url)
        settings.DATABASES[REPLICA_ALIAS] = {
            **settings.DATABASES["default"],
            **{key: replica[key] for key in ("HOST", "PORT", "USER", "PASSWORD")},
            "OPTIONS": dict(settings.DATABASES["default"].get("OPTIONS", {})),
            "TEST": {"MIRROR": "default"},
        }


@pytest.fixture
def oauth(db) -> OAuthHttp:
    return OAuthHttp()


@pytest.fixture
def service(db):
    """A client holding scopes `read` and `write`."""
    return ClientFactory(name="billing-job", scopes=["read", "write"])


@pytest.fixture
def resource_server(db):
    """A client allowed to introspect."""
    return ClientFactory(name="orders-api", can_introspect=True)


# Staff portal (admin): users in the role groups made by clients/migrations/0002_staff_roles.py.
def _staff_user(username: str, group: str):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username, is_staff=True)  # no password: tests log in with force_login
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator(db):
    return _staff_user("olivia", "Operator")


@pytest.fixture
def auditor(db):
    return _staff_user("arthur", "Auditor")


def in_sudo_mode(http: HttpClient) -> HttpClient:
    """As if the logged-in user had just confirmed their password (portal/sessions.py)."""
    import time

    from portal.sessions import SESSION_KEY

    session = http.session
    session[SESSION_KEY] = time.time() + 3600
    session.save()
    return http


@pytest.fixture
def operator_http(operator) -> HttpClient:
    """An Operator's browser, past the password confirmation that rotating and retiring want (sudo mode)."""
    http = HttpClient()
    http.force_login(operator)
    return in_sudo_mode(http)


@pytest.fixture
def auditor_http(auditor) -> HttpClient:
    http = HttpClient()
    http.force_login(auditor)
    return http


@pytest.fixture
def api(db):
    """A management API caller: `api.login(*scopes)` makes the calling client, then `api.get/post/...`."""
    from tests.api import ApiHttp

    return ApiHttp()


@pytest.fixture(scope="session")
def live_database_url():
    """A migrated database for live gunicorn servers (tests/live.py), shared by the live tests of a run."""
    from tests import live

    with live.live_database() as url:
        yield url


@pytest.fixture(scope="session")
def live_clients(live_database_url):
    """Clients on the live database, made in one process start: `orders-api` may introspect, `billing-job` holds
    `read`, and one `job-*` per test that needs a client of its own."""
    from tests import live

    jobs = ["job-d", "job-refuse", "job-silent"]
    return live.create_clients(
        live_database_url,
        {"orders-api": {"can_introspect": True}, "billing-job": {"scopes": ["read"]}, **{name: {} for name in jobs}},
        scopes=("read",),
    )


@pytest.fixture
def no_failures_counted(live_database_url):
    """Every live server sees the tests as 127.0.0.1: a test using this starts with no failures counted."""
    import psycopg

    with psycopg.connect(live_database_url) as conn:
        conn.execute("DELETE FROM tokens_failurecounter")
