"""The staff roles Gatehouse ships with, as Django groups: Auditor (read only) and Operator (day-to-day changes).

A data migration creates them; `sync_roles` is idempotent, so running it again restores their permissions.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps

# Granting gatehouse:* scopes or the introspection privilege, or managing a client that has either, needs this
# permission (clients.services.Actor.staff). Superusers have it; no group does by default, Operator included:
# give it to named people, or a group of your own.
PRIVILEGED_PERMISSION = "clients.grant_privileged_access"

# (app label, codename). Deleting clients is not offered anywhere: a client is disabled instead.
VIEW = [
    ("clients", "view_client"),
    ("clients", "view_clientsecret"),
    ("clients", "view_scope"),
    ("clients", "view_auditevent"),
    ("clients", "view_resourceserver"),
]
ROLES: dict[str, list[tuple[str, str]]] = {
    "Auditor": VIEW,
    "Operator": [
        *VIEW,
        ("clients", "add_client"),
        ("clients", "change_client"),
        ("clients", "rotate_client_secret"),
        ("clients", "add_scope"),
        ("clients", "change_scope"),
        ("clients", "delete_scope"),
    ],
}


def create_permissions_now(apps: Any) -> None:
    """Make every model's permissions during a migration (Django makes them after all migrations, in post_migrate)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def sync_roles(apps: Any = global_apps) -> None:
    """Create the role groups if missing and set their permissions to exactly those listed above."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        # An early migration runs this before later ones made some models: their permissions are added by the
        # migration that makes them (e.g. 0007_resource_servers), which runs this again.
        permissions = [
            permission
            for app_label, codename in wanted
            for permission in permission_model.objects.filter(content_type__app_label=app_label, codename=codename)
        ]
        group.permissions.set(permissions)
