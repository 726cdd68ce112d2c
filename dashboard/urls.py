"""Routes under /api/v1/dashboard/."""

from config.routers import ApiRouter, api_path
from dashboard.api.views import KPIViewSet, MetricViewSet, SummaryView

app_name = "dashboard"

router = ApiRouter()
router.register("dashboard/metrics", MetricViewSet, basename="metric")
router.register("dashboard/kpis", KPIViewSet, basename="kpi")

urlpatterns = [
    api_path("dashboard/summary", SummaryView.as_view(), name="summary"),
    *router.urls,
]
