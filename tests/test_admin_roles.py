"""The Auditor and Operator groups made by the data migration."""

from django.contrib.auth.models import Group

from clients.roles import ROLES, sync_roles


def codenames(group_name: str) -> set[str]:
    return set(Group.objects.get(name=group_name).permissions.values_list("codename", flat=True))


def test_auditor_views_everything_and_changes_nothing(db):
    assert codenames("Auditor") == {
        "view_client",
        "view_clientsecret",
        "view_scope",
        "view_auditevent",
        "view_resourceserver",
    }


def test_operators_see_resource_servers_but_managing_them_is_privileged(db):
    granted = codenames("Operator")
    assert "view_resourceserver" in granted
    assert not {"add_resourceserver", "change_resourceserver", "delete_resourceserver"} & granted


def test_operator_may_register_change_and_rotate_but_not_delete_clients(db):
    granted = codenames("Operator")
    assert {"add_client", "change_client", "rotate_client_secret", "delete_scope"} <= granted
    assert "delete_client" not in granted and "change_auditevent" not in granted


def test_sync_roles_restores_the_listed_permissions(db):
    Group.objects.get(name="Auditor").permissions.clear()
    sync_roles()
    sync_roles()
    assert codenames("Auditor") == {codename for _, codename in ROLES["Auditor"]}
