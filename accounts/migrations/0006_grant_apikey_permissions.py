"""Grant user_admin the API-key permissions (view every key, revoke). Idempotent; reversing takes exactly these away."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE = "user_admin"
CODENAMES = ["view_apikey", "delete_apikey"]


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="accounts", codename__in=CODENAMES))


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); a fresh database has none yet.
    app_config = apps.get_app_config("accounts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=ROLE)
    group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=ROLE).first()
    if group is not None:
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_apikey"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
