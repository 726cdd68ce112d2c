"""Grant manager and analyst the alert rule permissions (everyone sees only their own rules). Idempotent; reversing
takes exactly these away."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ["view_alertrule", "add_alertrule", "change_alertrule", "delete_alertrule"]
ROLES = ["analyst", "manager"]


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="dashboard", codename__in=CODENAMES))


def grant(apps, schema_editor):
    app_config = apps.get_app_config("dashboard")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0005_alerts"),
        ("accounts", "0003_seed_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
