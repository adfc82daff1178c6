"""Create the scopes that authorize the management API (see docs/api.md)."""

from django.db import migrations

# Frozen here rather than imported: a migration must keep doing what it did when it was written.
API_SCOPES = {
    "gatehouse:clients:read": "Management API: list and read clients, their secrets' metadata and scopes.",
    "gatehouse:clients:write": "Management API: register, change, rotate and disable clients; manage scopes.",
    "gatehouse:audit:read": "Management API: read the audit trail.",
    "gatehouse:admin": "Management API: everything, and may grant any scope (not only those it holds).",
}


def create_api_scopes(apps, schema_editor):
    Scope = apps.get_model("clients", "Scope")
    for name, description in API_SCOPES.items():
        Scope.objects.get_or_create(name=name, defaults={"description": description})


def delete_unused_api_scopes(apps, schema_editor):
    Scope = apps.get_model("clients", "Scope")
    Scope.objects.filter(name__in=API_SCOPES, clients__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("clients", "0003_idempotency_key")]

    operations = [migrations.RunPython(create_api_scopes, delete_unused_api_scopes)]
