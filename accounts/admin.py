"""Staff UI for users and roles, under the API's no-escalation rules (``accounts.rbac``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, Permission
from django.db.models import Exists, OuterRef, Prefetch
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import rbac
from accounts.forms import AdminLoginForm, UserChangeForm, UserCreationForm
from accounts.models import ApiKey, Role, User
from accounts.selectors import api_keys_of, user_role_names
from accounts.services.api_keys import api_key_revoke
from accounts.services.mfa import mfa_reset
from accounts.services.roles import role_create, role_delete, role_update
from accounts.services.users import user_delete, user_roles_changed_record, user_update

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _MfaOn(TypedDict):
    mfa_on: bool  # UserAdmin.get_queryset's annotation


# Roles are managed as the Role proxy (accounts), not as auth's Group.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)
# TOTP devices hold secrets (django-otp's admin shows the key and a QR code): they are managed only through the
# enrolment page, the API and the "reset two-factor authentication" action.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)

# The login asks staff with two-factor authentication for their code.
admin.site.login_form = AdminLoginForm
admin.site.login_template = "accounts/admin_login.html"


API_KEY_ADMIN_FIELDS = ("name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
API_KEY_ADMIN_TITLES = ("name", "prefix", "scopes", "created", "expires", "last used", "revoked")


def _when(moment) -> str:
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT") if moment else "-"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    ordering = ("-date_joined", "-id")
    list_display = ("email", "full_name", "roles", "is_active", "two_factor", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")
    search_fields = ("email", "full_name")
    readonly_fields = ("last_login", "date_joined")
    actions = ["activate_users", "deactivate_users", "reset_mfa"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),)

    def get_queryset(self, request):
        confirmed_device = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).prefetch_related("groups").annotate(mfa_on=Exists(confirmed_device))

    @admin.display(boolean=True, description="two-factor", ordering="mfa_on")
    def two_factor(self, user: WithAnnotations[User, _MfaOn]) -> bool:
        return user.mfa_on

    @admin.display(description="roles")
    def roles(self, user: User) -> str:
        return ", ".join(user_role_names(user=user))

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and request.user.has_perm("accounts.view_apikey"):
            fieldsets = (*fieldsets, ("API keys", {"fields": ("api_key_table",)}))
        return fieldsets

    @admin.display(description="API keys")
    def api_key_table(self, user: User) -> str:
        """The user's keys, read-only (never a digest); revoking is an action of the API keys list."""
        keys = api_keys_of(user=user)
        if not keys:
            return "None"
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:accounts_apikey_change", args=[key.pk]),
                    key.name,
                    key.prefix,
                    ", ".join(key.scopes),
                    _when(key.created_at),
                    _when(key.expires_at),
                    _when(key.last_used_at),
                    _when(key.revoked_at),
                )
                for key in keys
            ),
        )
        header = format_html_join("", "<th>{}</th>", ((title,) for title in API_KEY_ADMIN_TITLES))
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", header, rows)

    def get_readonly_fields(self, request, obj=None):
        readonly = (*super().get_readonly_fields(request, obj), "api_key_table")
        if rbac.is_superuser(request.user):
            return readonly
        return (*readonly, "is_staff", "is_superuser", "user_permissions")

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name == "groups" and not rbac.is_superuser(request.user):
            kwargs["queryset"] = rbac.roles_ordinary().order_by("name")
        return super().formfield_for_manytomany(db_field, request=request, **kwargs)

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or rbac.may_change_user(actor=request.user, target=obj))

    def has_delete_permission(self, request, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or rbac.may_change_user(actor=request.user, target=obj))

    def save_related(self, request, form, formsets, change) -> None:
        # Read from the database: the form's m2m data is not saved yet, and a prefetched cache may hide it.
        before = list(Group.objects.filter(user=form.instance).values_list("name", flat=True)) if change else []
        super().save_related(request, form, formsets, change)
        user_roles_changed_record(
            actor=request.user, user=form.instance, before=before, after=user_role_names(user=form.instance)
        )

    def delete_model(self, request, obj) -> None:
        # The admin has already refused users who own protected data (its "protected objects" page).
        user_delete(actor=request.user, user=obj)

    def delete_queryset(self, request, queryset) -> None:
        for user in queryset:
            user_delete(actor=request.user, user=user)

    @admin.action(description="Activate selected users", permissions=["change"])
    def activate_users(self, request, queryset) -> None:
        self._set_active(request, queryset, active=True)

    @admin.action(description="Deactivate selected users", permissions=["change"])
    def deactivate_users(self, request, queryset) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(description="Reset two-factor authentication of selected users", permissions=["change"])
    def reset_mfa(self, request, queryset) -> None:
        reset = skipped = 0
        for user in queryset:
            if not rbac.may_change_user(actor=request.user, target=user):
                skipped += 1
            elif mfa_reset(actor=request.user, user=user):
                reset += 1
        self.message_user(request, f"Two-factor authentication reset for {reset} user(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} user(s) skipped: staff, superusers, holders of privileged roles and your own account "
                "are reset only by superusers.",
                messages.WARNING,
            )

    def _set_active(self, request, queryset, *, active: bool) -> None:
        changed = skipped = 0
        for user in queryset:
            if not rbac.may_change_user(actor=request.user, target=user):
                skipped += 1
            elif user.is_active != active:
                # Saving a deactivation revokes every token of the user (User.save).
                user_update(actor=request.user, user=user, is_active=active)
                changed += 1
        verb = "activated" if active else "deactivated"
        self.message_user(request, f"{changed} user(s) {verb}.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} user(s) skipped: staff, superusers, holders of privileged roles and your own account "
                "are changed only by superusers.",
                messages.WARNING,
            )


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    """Roles: readable with ``auth.view_group``; written by superusers only, through the audited role services."""

    list_display = ("name", "privileged")
    search_fields = ("name",)
    ordering = ("name",)
    filter_horizontal = ("permissions",)

    def get_queryset(self, request):
        permissions = Permission.objects.select_related("content_type")
        return super().get_queryset(request).prefetch_related(Prefetch("permissions", queryset=permissions))

    @admin.display(boolean=True, description="privileged")
    def privileged(self, role: Role) -> bool:
        return any(rbac.permission_is_privileged(permission) for permission in role.permissions.all())

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name == "permissions":
            # Permission names show their app: load the content types in the same query.
            kwargs["queryset"] = Permission.objects.select_related("content_type")
        return super().formfield_for_manytomany(db_field, request=request, **kwargs)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("auth.view_group")

    def has_add_permission(self, request) -> bool:
        return rbac.may_write_roles(actor=request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return rbac.may_write_roles(actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return rbac.may_write_roles(actor=request.user)

    def save_model(self, request, obj, form, change) -> None:
        permissions = form.cleaned_data.get("permissions", [])
        if change:
            # The form already renamed *obj* in memory; the service compares against the stored role.
            role_update(actor=request.user, role=Role.objects.get(pk=obj.pk), name=obj.name, permissions=permissions)
            return
        role = role_create(actor=request.user, name=obj.name, permissions=permissions)
        # The admin goes on with its own instance (log entry, redirect): make it the created row.
        obj.pk = role.pk
        obj._state.adding = False
        obj._state.db = role._state.db

    def save_related(self, request, form, formsets, change) -> None:
        # save_model set the permissions through the service; only inline formsets (none today) are left to save.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj) -> None:
        role_delete(actor=request.user, role=obj)

    def delete_queryset(self, request, queryset) -> None:
        for role in queryset:
            role_delete(actor=request.user, role=role)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Every key, read-only (no way to see or set a secret: keys are created only through the API, shown once);
    ``accounts.view_apikey`` to see them, ``accounts.delete_apikey`` for the revoke action."""

    list_display = ("name", "user", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__email")
    ordering = ("-created_at", "-id")
    fields = ("user", *API_KEY_ADMIN_FIELDS)
    readonly_fields = fields
    actions = ["revoke_keys"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Keys are revoked, never deleted, so their history stays.
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("accounts.delete_apikey")

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_keys(self, request, queryset) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=request.user)
            revoked += 1
        self.message_user(request, f"{revoked} API key(s) revoked.", messages.SUCCESS)
