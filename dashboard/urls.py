"""Routes under /api/v1/dashboard/."""

from core.routers import ApiRouter, api_path
from dashboard.alerts.api.views import AlertRuleViewSet
from dashboard.boards.api.views import BoardViewSet
from dashboard.kpis.api.views import KPIViewSet, SummaryView
from dashboard.metrics.api.views import MetricViewSet
from dashboard.uploads.api.views import UploadView, UploadViewSet

app_name = "dashboard"

router = ApiRouter()
router.register("dashboard/metrics", MetricViewSet, basename="metric")
router.register("dashboard/kpis", KPIViewSet, basename="kpi")
router.register("dashboard/uploads", UploadViewSet, basename="upload")
router.register("dashboard/alerts", AlertRuleViewSet, basename="alert")
router.register("dashboard/boards", BoardViewSet, basename="board")

urlpatterns = [
    api_path("dashboard/summary", SummaryView.as_view(), name="summary"),
    api_path("dashboard/upload", UploadView.as_view(), name="upload"),
    *router.urls,
]
