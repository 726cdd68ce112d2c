"""Routes under /api/v1/dashboard/."""

app_name = "dashboard"

urlpatterns: list = []
