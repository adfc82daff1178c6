"""Staff portal sessions (issue 11, finding 8): idle and absolute lifetimes, sudo mode before rotating, retiring
or granting gatehouse:* scopes, a strict Content-Security-Policy on every page, and the clients under attack."""

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission, User
from django.test import Client as HttpClient

from clients.models import AuditEvent, ClientSecret
from tests.admin_pages import ADD_URL, change_url, once_nonce, retire_url, rotate_url, shown_secret
from tests.factories import ClientFactory, ScopeFactory

PASSWORD = "a long staff passphrase 7"
START = dt.datetime(2030, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def olivia(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed: not under test here
    user = User.objects.create_user("olivia", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    return user


def logged_in(user) -> HttpClient:
    """A browser that logged in through the login form (no sudo mode: a login alone does not open it)."""
    http = HttpClient()
    response = http.post("/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return http


def is_logged_in(http) -> bool:
    return http.get("/admin/").status_code == 200


# Idle and absolute lifetimes


def test_a_session_idle_for_longer_than_the_idle_timeout_ends(olivia):
    with time_machine.travel(START, tick=False) as clock:
        http = logged_in(olivia)
        clock.shift(dt.timedelta(minutes=29))
        assert is_logged_in(http)  # activity: the idle clock starts again
        clock.shift(dt.timedelta(minutes=29))
        assert is_logged_in(http)
        clock.shift(dt.timedelta(minutes=31))
        assert not is_logged_in(http)
        assert http.get("/admin/")["Location"].startswith("/admin/login/")


def test_an_active_session_ends_after_the_absolute_lifetime(olivia):
    with time_machine.travel(START, tick=False) as clock:
        http = logged_in(olivia)
        for _ in range(12 * 3 - 1):
            clock.shift(dt.timedelta(minutes=20))
            assert is_logged_in(http)
        clock.shift(dt.timedelta(minutes=21))  # 12 hours and 1 minute after login
        assert not is_logged_in(http)


def test_the_lifetimes_are_settings(olivia, settings):
    settings.GATEHOUSE_SESSION_IDLE_SECONDS = 5 * 60
    with time_machine.travel(START, tick=False) as clock:
        http = logged_in(olivia)
        clock.shift(dt.timedelta(minutes=6))
        assert not is_logged_in(http)


# Sudo mode


def test_rotating_asks_for_the_password_first_and_then_goes_through(olivia):
    client = ClientFactory()
    http = logged_in(olivia)
    prompt = http.get(rotate_url(client))
    assert prompt.status_code == 200
    assert 'name="sudo_password"' in prompt.content.decode()
    assert 'name="once"' not in prompt.content.decode()  # not the rotate form yet

    wrong = http.post(rotate_url(client), {"sudo_password": "nope", "sudo_method": "GET"})
    assert wrong.status_code == 403
    assert "That password is not right" in wrong.content.decode()

    opened = http.post(rotate_url(client), {"sudo_password": PASSWORD, "sudo_method": "GET"})
    assert opened.status_code == 302 and opened["Location"] == rotate_url(client)
    nonce = once_nonce(http, rotate_url(client))
    done = http.post(rotate_url(client), {"grace": "0", "once": nonce, "confirmed": "yes"})
    assert shown_secret(done).startswith("gth_cs_")
    assert AuditEvent.objects.filter(action="secret.rotate").count() == 1


def test_a_rotation_posted_without_sudo_mode_is_held_until_the_password_and_then_carried_out(olivia, settings):
    client = ClientFactory()
    http = logged_in(olivia)
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        http.post(rotate_url(client), {"sudo_password": PASSWORD, "sudo_method": "GET"})
        nonce = once_nonce(http, rotate_url(client))
        clock.shift(dt.timedelta(minutes=11))  # sudo mode lasts 10 minutes
        held = http.post(rotate_url(client), {"grace": "0", "once": nonce, "confirmed": "yes"})
        page = held.content.decode()
        assert 'name="sudo_password"' in page
        assert ClientSecret.objects.filter(client=client).count() == 1  # nothing rotated
        carried = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        carried.pop("csrfmiddlewaretoken")
        assert carried == {"grace": "0", "once": nonce, "confirmed": "yes", "sudo_method": "POST"}
        done = http.post(rotate_url(client), {**carried, "sudo_password": PASSWORD})
    assert shown_secret(done).startswith("gth_cs_")
    assert ClientSecret.objects.filter(client=client).count() == 2


def test_retiring_asks_for_the_password_first(olivia):
    client = ClientFactory()
    http = logged_in(olivia)
    held = http.post(retire_url(client, client.secret_row))
    assert 'name="sudo_password"' in held.content.decode()
    assert ClientSecret.objects.get(pk=client.secret_row.pk).retired_at is None
    done = http.post(retire_url(client, client.secret_row), {"sudo_password": PASSWORD, "sudo_method": "POST"})
    assert done.status_code == 302
    assert ClientSecret.objects.get(pk=client.secret_row.pk).retired_at is not None


def privileged(user: User) -> User:
    """Granting gatehouse:* scopes or the introspection privilege needs its own permission (issue 10)."""
    user.user_permissions.add(Permission.objects.get(codename="grant_privileged_access"))
    return User.objects.get(pk=user.pk)  # a fresh instance: permissions are cached on the old one


def test_registering_with_a_gatehouse_scope_asks_for_the_password_and_without_one_does_not(olivia):
    from clients.models import Scope

    olivia = privileged(olivia)
    read = ScopeFactory(name="orders.read")
    api = Scope.objects.get(name="gatehouse:clients:write")
    http = logged_in(olivia)
    form = {"name": "pipeline", "description": "", "token_ttl": "3600", "scopes": [str(api.pk)]}
    held = http.post(ADD_URL, {**form, "once": once_nonce(http, ADD_URL)})
    assert 'name="sudo_password"' in held.content.decode()
    assert not AuditEvent.objects.filter(action="client.create").exists()

    plain = http.post(ADD_URL, {**form, "scopes": [str(read.pk)], "once": once_nonce(http, ADD_URL)})
    assert shown_secret(plain).startswith("gth_cs_")


def test_registering_a_client_that_may_introspect_asks_for_the_password(olivia):
    http = logged_in(privileged(olivia))
    form = {"name": "orders-api", "description": "", "token_ttl": "3600", "can_introspect": "on"}
    held = http.post(ADD_URL, {**form, "once": once_nonce(http, ADD_URL)})
    assert 'name="sudo_password"' in held.content.decode()
    assert not AuditEvent.objects.filter(action="client.create").exists()


def test_letting_a_client_introspect_asks_for_the_password(olivia):
    client = ClientFactory()
    http = logged_in(privileged(olivia))
    form = {"name": client.name, "description": "", "token_ttl": "3600", "can_introspect": "on"}
    held = http.post(change_url(client), form)
    assert 'name="sudo_password"' in held.content.decode()
    assert not type(client).objects.get(pk=client.pk).can_introspect
    assert http.post(change_url(client), {**form, "sudo_password": PASSWORD}).status_code == 302
    assert type(client).objects.get(pk=client.pk).can_introspect


def test_adding_a_gatehouse_scope_to_a_client_asks_for_the_password(olivia):
    from clients.models import Scope

    olivia = privileged(olivia)
    client = ClientFactory(scopes=["orders.read"])
    api = Scope.objects.get(name="gatehouse:audit:read")
    http = logged_in(olivia)
    form = {"name": client.name, "description": "", "token_ttl": "3600"}
    held = http.post(change_url(client), {**form, "scopes": [str(s.pk) for s in [*client.scopes.all(), api]]})
    assert 'name="sudo_password"' in held.content.decode()
    assert client.scope_names() == ["orders.read"]
    done = http.post(
        change_url(client),
        {**form, "scopes": [str(s.pk) for s in [*client.scopes.all(), api]], "sudo_password": PASSWORD},
    )
    assert done.status_code == 302
    assert client.scope_names() == ["gatehouse:audit:read", "orders.read"]


def test_wrong_sudo_passwords_count_towards_the_admin_lockout(olivia, settings):
    client = ClientFactory()
    http = logged_in(olivia)
    statuses = [
        http.post(rotate_url(client), {"sudo_password": "guess", "sudo_method": "GET"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429
    assert http.post(rotate_url(client), {"sudo_password": PASSWORD, "sudo_method": "GET"}).status_code == 429


# Content-Security-Policy


def test_every_portal_page_has_a_strict_content_security_policy(olivia, settings):
    from tests.conftest import in_sudo_mode

    client = ClientFactory(scopes=["orders.read"])
    pages = [
        "/admin/login/",
        "/admin/",
        "/admin/clients/client/",
        ADD_URL,
        change_url(client),
        rotate_url(client),
        retire_url(client, client.secret_row),
        "/admin/clients/scope/",
        "/admin/clients/auditevent/",
        "/admin/clients/clientsecret/",
        "/admin/password_change/",
    ]
    anonymous = HttpClient()
    for path in pages:
        for http in (in_sudo_mode(logged_in(olivia)), logged_in(olivia), anonymous):
            response = http.get(path)
            assert response["Content-Security-Policy"] == settings.GATEHOUSE_PORTAL_CSP, path
            body = response.content.decode()
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), path  # no inline script
            assert not re.search(r"\son[a-z]+=", body), path  # no inline event handler
            assert " style=" not in body, path
    assert "'unsafe-inline'" not in settings.GATEHOUSE_PORTAL_CSP


def test_the_oauth_endpoints_carry_no_portal_policy(oauth, service):
    assert "Content-Security-Policy" not in oauth.token(service)


# Clients under attack on the dashboard


def test_the_dashboard_lists_clients_under_attack(oauth, operator_http, settings):
    from clients import credentials

    settings.GATEHOUSE_AUTH_ALERT_THRESHOLD = 6
    victim = ClientFactory(name="payments-job")
    for n in range(6):
        oauth.post(
            "/oauth/token",
            {"grant_type": "client_credentials"},
            auth=(victim.client_id, credentials.new_credential(credentials.CLIENT_SECRET_PREFIX)),
            REMOTE_ADDR=f"203.0.113.{n % 3}",
        )
    page = operator_http.get("/admin/").content.decode()
    assert "Clients under attack" in page
    row = re.search(rf'<tr data-client-id="{victim.client_id}">(.*?)</tr>', page, re.S).group(1)
    assert "payments-job" in row and "6 in 300 s" in row and "<td>3</td>" in row


def test_the_dashboard_has_no_attack_section_when_nothing_was_flagged(operator_http):
    assert "Clients under attack" not in operator_http.get("/admin/").content.decode()
