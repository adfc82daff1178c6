from django.urls import path

from tokens import views

urlpatterns = [
    path("oauth/token", views.TokenView.as_view(), name="oauth-token"),
    path("oauth/introspect", views.IntrospectionView.as_view(), name="oauth-introspect"),
    path("oauth/revoke", views.RevocationView.as_view(), name="oauth-revoke"),
    path(".well-known/oauth-authorization-server", views.MetadataView.as_view(), name="oauth-metadata"),
]
