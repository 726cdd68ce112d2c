"""Grant the board permissions: manager and analyst all four, viewer view (everyone edits only their own boards and
sees the ones shared with their roles). Idempotent; reversing takes exactly these away."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ALL = ["view_board", "add_board", "change_board", "delete_board"]
GRANTS = {"manager": ALL, "analyst": ALL, "viewer": ["view_board"]}


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="dashboard", codename__in=codenames))


def grant(apps, schema_editor):
    app_config = apps.get_app_config("dashboard")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=GRANTS):
        group.permissions.remove(*_permissions(apps, GRANTS[group.name]))


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0010_boards"),
        ("accounts", "0003_seed_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
