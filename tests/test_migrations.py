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
