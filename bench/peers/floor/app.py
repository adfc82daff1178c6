# Vendored from the team benchmark (shared/bench): the bare-Django floor Gatehouse is measured against.
"""The floor: the least work a Django token server can do per request.

/issue  -> one INSERT of a hashed random token, JSON back.
/check  -> one indexed SELECT by token hash, JSON back.
/hello  -> constant JSON: the framework's own cost.
Same gunicorn, same Postgres as the peers; used to see how close to the
limit the project runs.
"""
import hashlib, json, os, secrets, sys, time

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="floor",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": os.environ.get("FLOOR_DB", "peer_floor"),
                           "USER": "postgres", "HOST": "127.0.0.1", "CONN_MAX_AGE": 60}},
)
django.setup()

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

DDL = """CREATE TABLE IF NOT EXISTS floor_token (id bigserial primary key, digest char(64) unique not null,
 client_id varchar(64) not null, scope text not null, expires timestamptz not null)"""


def _json(obj):
    return HttpResponse(json.dumps(obj), content_type="application/json")


def hello(request):
    return _json({"ok": True})


@csrf_exempt
def issue(request):
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cur:
        cur.execute("INSERT INTO floor_token (digest, client_id, scope, expires) VALUES (%s, %s, %s, now() + interval '1 hour')",
                    [digest, "bench", "read"])
    return _json({"access_token": token, "token_type": "Bearer", "expires_in": 3600})


@csrf_exempt
def check(request):
    digest = hashlib.sha256(request.POST.get("token", "").encode()).hexdigest()
    with connection.cursor() as cur:
        cur.execute("SELECT client_id, scope, extract(epoch from expires) FROM floor_token WHERE digest=%s AND expires > now()", [digest])
        row = cur.fetchone()
    if not row:
        return _json({"active": False})
    return _json({"active": True, "client_id": row[0], "scope": row[1], "exp": int(row[2])})


urlpatterns = [path("hello", hello), path("issue", issue), path("check", check)]

with connection.cursor() as cur:
    cur.execute(DDL)
connection.close()

from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
