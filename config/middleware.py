"""Project middleware."""

from collections.abc import Callable

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty


class LazyMessageMiddleware(MessageMiddleware):
    """Django's MessageMiddleware with the message storage built on first use.

    Only the staff portal uses messages. Building the cookie-and-session storage on every token and
    introspection request cost tens of microseconds for nothing (docs/performance.md).
    """

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        storage = getattr(request, "_messages", None)
        if isinstance(storage, SimpleLazyObject) and storage._wrapped is empty:
            return response
        return super().process_response(request, response)


class PortalSecurityMiddleware:
    """The staff portal's Content-Security-Policy (GATEHOUSE_PORTAL_CSP) on every page under GATEHOUSE_ADMIN_PATH.

    A static header on one path prefix, so no library (docs/decisions.md); the OAuth paths are not touched.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix = "/" + settings.GATEHOUSE_ADMIN_PATH

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(self.prefix):
            response.headers.setdefault("Content-Security-Policy", settings.GATEHOUSE_PORTAL_CSP)
        return response
