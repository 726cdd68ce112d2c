"""Routes under /api/v1/ for authentication, the current user and administration."""

from django.urls import URLPattern, URLResolver

from accounts.api.admin_views import AdminUserViewSet, PermissionListView, RoleViewSet
from accounts.api.api_key_views import AdminApiKeyViewSet, MeApiKeyViewSet
from accounts.api.mfa_views import MfaLoginView, MfaView, RecoveryCodesView, TotpConfirmView, TotpEnrolmentView
from accounts.api.views import (
    LoginView,
    LogoutView,
    MePasswordView,
    MeView,
    PasswordResetConfirmView,
    PasswordResetView,
    RefreshView,
    RegisterView,
)
from core.routers import ApiRouter, api_path

app_name = "accounts"

admin_router = ApiRouter()
admin_router.register("admin/users", AdminUserViewSet, basename="admin-users")
admin_router.register("admin/roles", RoleViewSet, basename="admin-roles")
admin_router.register("admin/api-keys", AdminApiKeyViewSet, basename="admin-api-keys")
admin_router.register("users/me/api-keys", MeApiKeyViewSet, basename="me-api-keys")

urlpatterns: list[URLPattern | URLResolver] = [
    api_path("auth/register", RegisterView.as_view(), name="register"),
    api_path("auth/login", LoginView.as_view(), name="login"),
    api_path("auth/login/mfa", MfaLoginView.as_view(), name="login-mfa"),
    api_path("auth/refresh", RefreshView.as_view(), name="refresh"),
    api_path("auth/logout", LogoutView.as_view(), name="logout"),
    api_path("auth/password-reset", PasswordResetView.as_view(), name="password-reset"),
    api_path("auth/password-reset/confirm", PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    api_path("users/me", MeView.as_view(), name="me"),
    api_path("users/me/password", MePasswordView.as_view(), name="me-password"),
    api_path("users/me/mfa", MfaView.as_view(), name="me-mfa"),
    api_path("users/me/mfa/totp", TotpEnrolmentView.as_view(), name="me-mfa-totp"),
    api_path("users/me/mfa/totp/confirm", TotpConfirmView.as_view(), name="me-mfa-totp-confirm"),
    api_path("users/me/mfa/recovery-codes", RecoveryCodesView.as_view(), name="me-mfa-recovery-codes"),
]

urlpatterns += [
    api_path("admin/permissions", PermissionListView.as_view(), name="admin-permissions"),
    *admin_router.urls,
]
