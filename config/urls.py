"""Gatehouse URLs: the OAuth endpoints at the root, the staff portal under GATEHOUSE_ADMIN_PATH (/admin/)."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("tokens.urls")),
    path(settings.GATEHOUSE_ADMIN_PATH, admin.site.urls),
]
