"""Create the Auditor and Operator groups (see clients/roles.py and the README's "Staff roles")."""

from django.db import migrations

from clients.roles import create_permissions_now, sync_roles


def create_roles(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); make them now so the groups can hold them.
    create_permissions_now(apps)
    sync_roles(apps)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Auditor", "Operator"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
