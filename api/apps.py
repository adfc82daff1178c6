from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The management API under /api/v1/: DRF views over the registry's services (docs/api.md)."""

    name = "api"
    default_auto_field = "django.db.models.BigAutoField"
