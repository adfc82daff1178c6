"""The scope that names the introspection privilege, and the permission that guards privileged grants in the portal.

`gatehouse:resource-servers:write` lets an API caller manage clients that may introspect (docs/api.md);
`clients.grant_privileged_access` lets staff grant gatehouse:* scopes and the introspection privilege. Superusers
have it; the Operator group does not (clients/roles.py), so the roles are synced again here.
"""

from django.db import migrations

from clients.roles import create_permissions_now, sync_roles

# Frozen here rather than imported: a migration must keep doing what it did when it was written.
NAME = "gatehouse:resource-servers:write"
DESCRIPTION = (
    "Management API: manage resource servers and the clients that introspect for them "
    "(grant or change the introspection privilege; introspection sees every token)."
)


def create_scope_and_permission(apps, schema_editor):
    Scope = apps.get_model("clients", "Scope")
    Scope.objects.get_or_create(name=NAME, defaults={"description": DESCRIPTION})
    create_permissions_now(apps)
    sync_roles(apps)


def delete_unused_scope(apps, schema_editor):
    apps.get_model("clients", "Scope").objects.filter(name=NAME, clients__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("clients", "0005_authority")]

    operations = [migrations.RunPython(create_scope_and_permission, delete_unused_scope)]
