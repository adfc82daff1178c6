"""Staff portal sessions: an idle and an absolute lifetime, and sudo mode.

StaffSessionMiddleware ends a logged-in session idle for GATEHOUSE_SESSION_IDLE_SECONDS or older than
GATEHOUSE_SESSION_MAX_SECONDS (the login time is recorded by a user_logged_in receiver, connected when the admin
loads this module).

Sudo mode: a password typed within GATEHOUSE_SUDO_SECONDS before a sensitive change.

    @sudo_required                      # a whole view: rotate, retire
    def rotate_view(request, ...): ...

    if grants_api_scope and (prompt := sudo_prompt(request)):
        return prompt                   # a condition known only from the submitted data

Without a fresh confirmation the view answers a password page instead. It posts back to the same URL with the
original form's fields carried along as hidden inputs, so after the password the original request goes through
as if it had been sent once (a GET is redirected to itself). The password is checked by the authentication
backends, django-axes included, so failures count towards the lockout. A login alone does not open sudo mode.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import authenticate, logout
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

SESSION_KEY = "gatehouse_sudo_until"
PASSWORD_FIELD = "sudo_password"
_NOT_CARRIED = {PASSWORD_FIELD, "csrfmiddlewaretoken", "sudo_method"}


def sudo_active(request: HttpRequest) -> bool:
    return float(request.session.get(SESSION_KEY, 0)) > time.time()


def sudo_prompt(request: HttpRequest) -> HttpResponse | None:
    """None when sudo mode is on (or was just opened by the password in this request); else the answer to send."""
    if sudo_active(request):
        return None
    error = ""
    if request.method == "POST" and PASSWORD_FIELD in request.POST:
        user = authenticate(
            request, username=request.user.get_username(), password=request.POST.get(PASSWORD_FIELD, "")
        )
        if user is not None and user.pk == request.user.pk:
            request.session[SESSION_KEY] = time.time() + settings.GATEHOUSE_SUDO_SECONDS
            if request.POST.get("sudo_method") == "GET":
                return HttpResponseRedirect(request.get_full_path())
            return None
        error = "That password is not right."  # counted by django-axes, whose middleware answers a lockout
    method = request.POST.get("sudo_method", "POST") if request.method == "POST" else "GET"
    carried = [] if method == "GET" else [
        (name, value) for name, values in request.POST.lists() if name not in _NOT_CARRIED for value in values
    ]  # fmt: skip
    context = {
        **admin.site.each_context(request),
        "title": "Confirm your password",
        "carried": carried,
        "method": method,
        "error": error,
        "minutes": settings.GATEHOUSE_SUDO_SECONDS // 60,
    }
    response = TemplateResponse(request, "admin/sudo.html", context, status=403 if error else 200)
    response["Cache-Control"] = "no-store"
    return response


def sudo_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a view (function or method) so that it runs only in sudo mode."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> HttpResponse:
        request = next(arg for arg in args if isinstance(arg, HttpRequest))
        prompt = sudo_prompt(request)
        return prompt if prompt is not None else view(*args, **kwargs)

    return wrapped


STARTED, SEEN = "gatehouse_session_started", "gatehouse_session_seen"
_TOUCH_EVERY = 60  # seconds: a staff session is written at most once a minute to record activity


def _session_started(sender: object, request: HttpRequest, **kwargs: object) -> None:
    now = int(time.time())
    request.session[STARTED] = request.session[SEEN] = now


user_logged_in.connect(_session_started, dispatch_uid="gatehouse-session-started")


class StaffSessionMiddleware:
    """Ends a logged-in session idle for GATEHOUSE_SESSION_IDLE_SECONDS or older than GATEHOUSE_SESSION_MAX_SECONDS.

    Requests without a session cookie (every OAuth and API call) pass straight through.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            session = request.session
            if "_auth_user_id" in session:
                now = int(time.time())
                started, seen = session.get(STARTED), session.get(SEEN)
                if (
                    started is None
                    or seen is None
                    or now - seen > settings.GATEHOUSE_SESSION_IDLE_SECONDS
                    or now - started > settings.GATEHOUSE_SESSION_MAX_SECONDS
                ):
                    logout(request)  # flushes the session: the portal asks for a login again
                elif now - seen >= _TOUCH_EVERY:
                    session[SEEN] = now
        return self.get_response(request)
