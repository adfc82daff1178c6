"""The OAuth endpoints, and their OpenAPI description at /oauth/openapi.json."""

from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView

from tokens import openapi, views

oauth_patterns = [
    path("oauth/token", views.TokenView.as_view(), name="oauth-token"),
    path("oauth/introspect", views.IntrospectionView.as_view(), name="oauth-introspect"),
    path("oauth/revoke", views.RevocationView.as_view(), name="oauth-revoke"),
    path(".well-known/oauth-authorization-server", views.MetadataView.as_view(), name="oauth-metadata"),
]

urlpatterns = [
    *oauth_patterns,
    path(
        "oauth/openapi.json",
        SpectacularJSONAPIView.as_view(
            urlconf=oauth_patterns,
            authentication_classes=[],  # public, and deaf to the client credentials a tool may send along
            permission_classes=[],
            custom_settings={
                "TITLE": "Gatehouse OAuth 2.0 endpoints",
                "DESCRIPTION": "Client credentials grant (RFC 6749), introspection (RFC 7662), "
                "revocation (RFC 7009) and metadata (RFC 8414).",
                "VERSION": "1",
                "APPEND_COMPONENTS": {"securitySchemes": openapi.SECURITY_SCHEMES},
                "SECURITY": [],
                "PREPROCESSING_HOOKS": [],  # the management API's hook keeps only /api/ paths
            },
        ),
        name="oauth-openapi",
    ),
]
