# IdempotencyKey, moved here from the clients app with its table (clients_idempotencykey) and rows kept: this
# migration only tells Django the model now lives here. Its content type follows it, so nothing points at the
# old app label.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def _move_content_type(apps, schema_editor):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label='api', model='idempotencykey').exists():
        ContentType.objects.using(db).filter(app_label='clients', model='idempotencykey').update(app_label='api')


def _move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label='clients', model='idempotencykey').exists():
        ContentType.objects.using(db).filter(app_label='api', model='idempotencykey').update(app_label='clients')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('clients', '0007_idempotency_key_to_api'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='IdempotencyKey',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=255)),
                        ('fingerprint', models.CharField(help_text='SHA-256 of the request body, to spot a reused key.', max_length=64)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('caller', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='clients.client')),
                        ('client', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='clients.client')),
                    ],
                    options={
                        'db_table': 'clients_idempotencykey',
                        'constraints': [models.UniqueConstraint(fields=('caller', 'key'), name='one_create_per_idempotency_key')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(_move_content_type, _move_content_type_back),
    ]
