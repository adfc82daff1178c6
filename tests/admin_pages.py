"""Helpers for the staff portal tests: URLs and the once-only form flows."""

import re

from django.urls import reverse

ONCE = re.compile(r'name="once" value="([^"]+)"')
SECRET = re.compile(r'<code id="client-secret"[^>]*>([^<]+)</code>')


def change_url(client) -> str:
    return reverse("admin:clients_client_change", args=[client.pk])


def rotate_url(client) -> str:
    return reverse("admin:clients_client_rotate", args=[client.pk])


def retire_url(client, secret) -> str:
    return reverse("admin:clients_client_retire", args=[client.pk, secret.pk])


def confirm_url(client, action: str) -> str:
    return reverse("admin:clients_client_confirm", args=[client.pk, action])


ADD_URL = "/admin/clients/client/add/"


def once_nonce(http, url: str) -> str:
    """GET a form and return its once-only nonce."""
    response = http.get(url)
    assert response.status_code == 200
    return ONCE.search(response.content.decode()).group(1)


def shown_secret(response) -> str:
    return SECRET.search(response.content.decode()).group(1)


def register(http, **form):
    """Register a client through the admin; returns the response to the POST (the once-page)."""
    data = {"name": "billing-job", "description": "", "token_ttl": "3600", **form}
    data["once"] = once_nonce(http, ADD_URL)
    return http.post(ADD_URL, data)


def rotate(http, client, grace: str = "3600", **form):
    """Rotate through the admin's two steps (choose, confirm); returns the response to the confirming POST."""
    data = {"grace": grace, "once": once_nonce(http, rotate_url(client)), "confirmed": "yes", **form}
    return http.post(rotate_url(client), data)


def switch_url(client) -> str:
    return reverse("admin:clients_client_switch_auth", args=[client.pk])


def switch_auth(http, client, authentication: str = "generated", **form):
    """Switch through the admin's two steps (choose, confirm); returns the response to the confirming POST."""
    data = {"authentication": authentication, "once": once_nonce(http, switch_url(client)), "confirmed": "yes"}
    return http.post(switch_url(client), {**data, **form})
