# IdempotencyKey moved to the api app (api/migrations/0001_initial.py takes it over). Only Django's idea of the
# model changes: its table, clients_idempotencykey, and the rows in it stay where they are.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('clients', '0006_resource_servers_scope'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='IdempotencyKey')],
            database_operations=[],
        ),
    ]
