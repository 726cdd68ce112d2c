"""Routes under /api/v1/ for authentication, the current user and administration."""

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
from config.routers import api_path

app_name = "accounts"

urlpatterns = [
    api_path("auth/register", RegisterView.as_view(), name="register"),
    api_path("auth/login", LoginView.as_view(), name="login"),
    api_path("auth/refresh", RefreshView.as_view(), name="refresh"),
    api_path("auth/logout", LogoutView.as_view(), name="logout"),
    api_path("auth/password-reset", PasswordResetView.as_view(), name="password-reset"),
    api_path("auth/password-reset/confirm", PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    api_path("users/me", MeView.as_view(), name="me"),
    api_path("users/me/password", MePasswordView.as_view(), name="me-password"),
]
