"""The staff roles Gatehouse ships with, as Django groups: Auditor (read only) and Operator (everything).

A data migration creates them; `sync_roles` is idempotent, so running it again restores their permissions.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps

# (app label, codename). Deleting clients is not offered anywhere: a client is disabled instead.
VIEW = [
    ("clients", "view_client"),
    ("clients", "view_clientsecret"),
    ("clients", "view_scope"),
    ("clients", "view_auditevent"),
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


def sync_roles(apps: Any = global_apps) -> None:
    """Create the role groups if missing and set their permissions to exactly those listed above."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        permissions = [
            permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in wanted
        ]
        group.permissions.set(permissions)
