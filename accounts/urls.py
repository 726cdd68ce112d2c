"""Routes under /api/v1/ for authentication, the current user and administration."""

from accounts.api.views import MeView
from config.routers import api_path

app_name = "accounts"

urlpatterns = [
    api_path("users/me", MeView.as_view(), name="me"),
]
