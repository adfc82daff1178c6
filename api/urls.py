"""The management API, mounted under /api/v1/ (docs/api.md)."""

from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views.decorators.common import no_append_slash
from django.views.decorators.csrf import csrf_exempt
from rest_framework.routers import SimpleRouter

from api import views


@csrf_exempt  # bearer-token API, no cookies: else CSRF would answer an unknown POST with an HTML 403
@no_append_slash  # a POST redirected to the slashed URL would lose its body (and crash under DEBUG)
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown paths under /api/v1/ answer in the API's error shape, not with an HTML page."""
    description = "no such API endpoint"
    if path and not path.endswith("/"):
        description += "; API paths end with a slash"
    return JsonResponse({"error": "not_found", "error_description": description}, status=404)


router = SimpleRouter()
router.register("clients", views.ClientViewSet, basename="api-client")
router.register("scopes", views.ScopeViewSet, basename="api-scope")
router.register("resource-servers", views.ResourceServerViewSet, basename="api-resource-server")
router.register("trusts", views.TrustViewSet, basename="api-trust")
router.register("audit-events", views.AuditEventViewSet, basename="api-audit-event")

urlpatterns = [*router.urls, re_path(r"^(?P<path>[\s\S]*)$", not_found)]
