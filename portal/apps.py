from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The staff portal: the Django admin's pages over the registry, its sessions and sudo mode (docs/admin.md)."""

    name = "portal"
    default_auto_field = "django.db.models.BigAutoField"
