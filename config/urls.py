"""Gatehouse URLs: the OAuth endpoints at the root, the staff portal under /admin/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("tokens.urls")),
    path("admin/", admin.site.urls),
]
