"""The staff portal's response headers."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


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
