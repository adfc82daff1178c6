"""A resource server built on django-oauth-toolkit's resource-server mode, pointed at a Gatehouse.

Usage: python dot_resource_server.py INTROSPECTION_URL RS_ID RS_SECRET REQUIRED_SCOPE TOKEN [TOKEN...]
Prints one JSON object: {"statuses": [<status of a scope-protected view called with each bearer token>]}.
DOT calls Gatehouse's introspection endpoint with Basic credentials, as a deployed resource server would.
With RESOURCE_SERVER_URL (e.g. https://orders.example.com) in the environment, the view is served under that URL:
DOT (RFC 8707) also checks that an introspected token's `aud` covers the URL it is called at.
"""

import json
import os
import sys
from urllib.parse import urlsplit

import django
from django.conf import settings

url, rs_id, rs_secret, required_scope, *tokens = sys.argv[1:]
settings.configure(
    DEBUG=False,
    SECRET_KEY="resource-server-test",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "oauth2_provider"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    OAUTH2_PROVIDER={
        "RESOURCE_SERVER_INTROSPECTION_URL": url,
        "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS": (rs_id, rs_secret),
        "SCOPES": {required_scope: "required"},
    },
)
django.setup()

from django.core.management import call_command  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import path  # noqa: E402
from oauth2_provider.views.generic import ScopedProtectedResourceView  # noqa: E402

call_command("migrate", verbosity=0)


class Orders(ScopedProtectedResourceView):
    required_scopes = [required_scope]

    def get(self, request):
        return JsonResponse({"ok": True})


urlpatterns = [path("orders", Orders.as_view())]
served_at = urlsplit(os.environ.get("RESOURCE_SERVER_URL", "http://testserver"))
statuses = [
    Client()
    .get(
        "/orders",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_HOST=served_at.netloc,
        secure=served_at.scheme == "https",
    )
    .status_code
    for token in tokens
]
print(json.dumps({"statuses": statuses}))
