"""Seed the contract's roles. Idempotent; reversing removes the seeded roles.

The dashboard permissions of viewer/analyst/manager are granted by a migration of the dashboard app.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "viewer": [],
    "analyst": [],
    "manager": [],
    "user_admin": [
        ("accounts", "view_user"),
        ("accounts", "add_user"),
        ("accounts", "change_user"),
        ("auth", "view_group"),
        ("auth", "view_permission"),
    ],
}


def ensure_permissions(apps):
    # Permissions are normally created after all migrations (post_migrate); a fresh database has none yet.
    for app_label in ("auth", "accounts"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def seed_roles(apps, schema_editor):
    ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in perms:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_role_rotatedtoken"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(seed_roles, remove_roles)]
