"""Project URLs: the admin, system probes, API docs and the versioned API."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.admin_mfa import mfa_enrol
from core.views import ApiIndexView, FaviconView, api_guide, healthz, readyz

handler500 = "core.views.server_error"

admin.site.site_header = f"{settings.PROJECT_NAME} administration"
admin.site.site_title = settings.PROJECT_NAME
admin.site.index_title = "Site administration"  # the name and version are in the branding, "Dashboard" is the app
admin.site.site_url = "/api/docs/"  # "View site": there is no public site; the API's docs link to its guide

urlpatterns = [
    re_path(r"^healthz/?$", healthz, name="healthz"),
    re_path(r"^readyz/?$", readyz, name="readyz"),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(
        r"^api/docs/?$",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="drf_spectacular/swagger_ui_csp.html"),
        name="swagger-ui",
    ),
    re_path(r"^api/guide/?$", api_guide, name="api-guide"),
    re_path(r"^api/v1/?$", ApiIndexView.as_view(), name="api-index"),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("dashboard.urls")),
    path("admin/mfa/enrol/", admin.site.admin_view(mfa_enrol), name="admin-mfa-enrol"),
    path("admin/", admin.site.urls),
]
