"""Every change that can alter a user's access profile gives the users concerned a new ``authz_version`` stamp, in
the transaction of the change (``accounts.authz``): the next request, in any process, computes the profile afresh.

Covered: roles of a user (both sides of ``User.groups``), permissions of a role (both sides of
``Group.permissions``), direct permissions (both sides of ``User.user_permissions``), a role renamed or deleted, a
permission created, renamed or deleted (superusers hold them all), a content type changed, an MFA device saved or
deleted, and any ``migrate`` that ran migrations (data migrations change roles out of these signals' sight).
``is_active``, ``is_superuser`` and ``token_version`` need no signal: they are part of the cache key.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, transaction
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_delete
from django.dispatch import receiver
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.authz import authz_bump, holders_of_permissions
from accounts.models import User, authz_stamp

_CHANGES = frozenset({"post_add", "post_remove", "pre_clear"})


def _bump_instance(instance) -> None:
    """Keep an in-memory user in step with the row, so the same request's later checks see the change too."""
    if isinstance(instance, User):
        User.objects.filter(pk=instance.pk).update(authz_version=(stamp := authz_stamp()))
        instance.authz_version = stamp


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="accounts.authz.user_groups")
@receiver(m2m_changed, sender=User.user_permissions.through, dispatch_uid="accounts.authz.user_permissions")
def _user_m2m_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action not in _CHANGES:
        return
    if not reverse:  # user.groups / user.user_permissions
        _bump_instance(instance)
    elif action == "pre_clear":  # group.user_set.clear() / permission.user_set.clear(): the members before
        field = "groups" if sender is User.groups.through else "user_permissions"
        authz_bump(User.objects.filter(**{field: instance}))
    elif pk_set:
        authz_bump(pk_set)


@receiver(m2m_changed, sender=Group.permissions.through, dispatch_uid="accounts.authz.group_permissions")
def _group_permissions_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action not in _CHANGES:
        return
    if not reverse:  # group.permissions
        authz_bump(User.objects.filter(groups=instance))
    elif action == "pre_clear":  # permission.group_set.clear()
        authz_bump(User.objects.filter(groups__permissions=instance))
    elif pk_set:
        authz_bump(User.objects.filter(groups__in=pk_set))


@receiver(post_save, sender=Group, dispatch_uid="accounts.authz.group_saved")
def _group_saved(sender, instance, created, **kwargs) -> None:
    if not created:  # a rename; a new role has no members yet
        authz_bump(User.objects.filter(groups=instance))


@receiver(pre_delete, sender=Group, dispatch_uid="accounts.authz.group_deleted")
def _group_deleted(sender, instance, **kwargs) -> None:
    authz_bump(User.objects.filter(groups=instance))


@receiver(post_save, sender=Permission, dispatch_uid="accounts.authz.permission_saved")
@receiver(pre_delete, sender=Permission, dispatch_uid="accounts.authz.permission_deleted")
def _permission_changed(sender, instance, **kwargs) -> None:
    authz_bump(holders_of_permissions([instance.pk]))


@receiver(post_save, sender=ContentType, dispatch_uid="accounts.authz.content_type_saved")
@receiver(pre_delete, sender=ContentType, dispatch_uid="accounts.authz.content_type_deleted")
def _content_type_changed(sender, instance, **kwargs) -> None:
    # Renames every permission code of the model; rare (migrations), so every holder of any of them.
    authz_bump(holders_of_permissions(Permission.objects.filter(content_type=instance).values_list("pk", flat=True)))


@receiver(post_migrate, dispatch_uid="accounts.authz.migrated")
def _migrated(sender, using="default", plan=None, **kwargs) -> None:
    """Data migrations grant permissions to roles through historical models (no receiver above hears them) and
    ``migrate`` creates permissions with bulk_create (no post_save): once the last app has been migrated, every user
    gets a new stamp. Skipped when nothing was migrated, and when the schema is migrated back below the column."""
    if plan == [] or sender is not [app for app in apps.get_app_configs() if app.models_module is not None][-1]:
        return
    try:
        with transaction.atomic(using=using):
            User.objects.using(using).update(authz_version=authz_stamp())
    except DatabaseError:
        pass


@receiver(post_save, sender=TOTPDevice, dispatch_uid="accounts.authz.totp_saved")
@receiver(post_delete, sender=TOTPDevice, dispatch_uid="accounts.authz.totp_deleted")
def _totp_device_changed(sender, instance, **kwargs) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "confirmed" not in update_fields:
        return  # django-otp's own bookkeeping (throttling, last counter) changes nothing the profile shows
    authz_bump([instance.user_id])
