"""Grant the seeded roles their dashboard permissions. Idempotent; reversing takes exactly these away."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = ["view_metric", "view_kpi", "view_upload"]
ANALYST = [*VIEWER, "add_metric", "change_metric", "delete_metric", "add_upload", "delete_upload"]
MANAGER = [*ANALYST, "add_kpi", "change_kpi", "delete_kpi", "view_all_metrics"]
GRANTS = {"viewer": VIEWER, "analyst": ANALYST, "manager": MANAGER}


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
    for role, codenames in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0001_initial"),
        ("accounts", "0003_seed_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
