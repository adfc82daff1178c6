"""Error pages: JSON for the machine-facing paths (OAuth, discovery, API), Django's HTML pages for the portal.

Django answers a bad Host header, an unknown URL or a crash before any of our views run; a client library on
/oauth/ or /api/ should still get an RFC 6749-shaped JSON body, not an HTML page.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

JSON_PATHS = ("/oauth/", "/.well-known/", "/api/")


def _json(error: str, description: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(JSON_PATHS):
        return _json("invalid_request", "the request was refused (for example, a Host header not served here)", 400)
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(JSON_PATHS):
        return _json("not_found", "there is no endpoint at this path", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(JSON_PATHS):
        return _json("server_error", "the server failed to answer this request", 500)
    return defaults.server_error(request)
