"""Migrations that could meet data they refuse: they stop with a clear message and change nothing."""

import pytest
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("clients", "0004_api_scopes")]


def _executor() -> MigrationExecutor:
    return MigrationExecutor(connection)


@pytest.mark.django_db(transaction=True)
def test_scope_names_equal_ignoring_case_stop_the_migration_naming_them_and_nothing_is_lost():
    executor = _executor()
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    Scope = executor.loader.project_state(BEFORE).apps.get_model("clients", "Scope")
    for name in ("orders.read", "Orders.Read", "billing.write", "BILLING.WRITE", "Billing.Write", "reports.read"):
        Scope.objects.create(name=name)
    try:
        with pytest.raises(CommandError) as refused:
            _executor().migrate(latest)
        message = str(refused.value)
        assert "BILLING.WRITE / Billing.Write / billing.write" in message
        assert "Orders.Read / orders.read" in message
        assert "reports.read" not in message
        assert Scope.objects.filter(name__in=["orders.read", "Orders.Read"]).count() == 2  # nothing deleted
        # Once people have chosen, the migration goes through.
        Scope.objects.filter(name__in=["Orders.Read", "BILLING.WRITE", "Billing.Write"]).delete()
    finally:
        _executor().migrate(latest)
    assert ("clients", "0005_authority") in _executor().loader.applied_migrations


BEFORE_API_APP = [("clients", "0006_resource_servers_scope"), ("api", None)]


@pytest.mark.django_db(transaction=True)
def test_idempotency_keys_made_before_the_api_app_survive_the_move_and_still_replay():
    from django.contrib.contenttypes.models import ContentType

    from api import services as api_services
    from api.models import IdempotencyKey
    from clients.services import Actor

    executor = _executor()
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE_API_APP)
    try:
        old = executor.loader.project_state(BEFORE_API_APP[:1]).apps
        OldClient, OldKey = old.get_model("clients", "Client"), old.get_model("clients", "IdempotencyKey")
        caller = OldClient.objects.create(name="deployer")
        made = OldClient.objects.create(name="billing-job")
        fingerprint = api_services._fingerprint({"name": "billing-job"})
        OldKey.objects.create(caller=caller, key="deploy-42", fingerprint=fingerprint, client=made)
        OldKey.objects.create(caller=caller, key="deploy-41", fingerprint="f" * 64, client=made)
        ContentType.objects.get_or_create(app_label="clients", model="idempotencykey")
        ContentType.objects.clear_cache()
    finally:
        _executor().migrate(latest)

    assert sorted(IdempotencyKey.objects.values_list("key", "caller_id", "client_id")) == [
        ("deploy-41", caller.pk, made.pk),
        ("deploy-42", caller.pk, made.pk),
    ]
    ContentType.objects.clear_cache()
    assert ContentType.objects.filter(app_label="api", model="idempotencykey").count() == 1
    assert not ContentType.objects.filter(app_label="clients", model="idempotencykey").exists()
    # A retry sent before the upgrade and repeated after it is still answered as a replay, not a second client.
    from clients.models import Client

    again = api_services.client_create_idempotent(
        caller_pk=caller.pk, key="deploy-42", actor=Actor.cli(), name="billing-job"
    )
    assert isinstance(again, api_services.Replay) and again.client.pk == made.pk
    assert Client.objects.filter(name="billing-job").count() == 1
