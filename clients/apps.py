from django.apps import AppConfig


class ClientsConfig(AppConfig):
    """The registry. Its admin heading reads "Registry", so the breadcrumb is "Registry › Clients", not "Clients ›
    Clients"."""

    name = "clients"
    verbose_name = "Registry"
