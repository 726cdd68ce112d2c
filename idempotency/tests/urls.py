"""The project's URLs plus a probe endpoint decorated with @idempotent, answering the status it is asked for."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns
from core.routers import api_path
from idempotency.decorators import idempotent

CALLS: list[str] = []


class ProbeView(APIView):
    """POST ?status=N answers N with the number of times the handler ran; ?status=raise raises."""

    permission_classes = [IsAuthenticated]

    @idempotent
    def post(self, request):
        CALLS.append(request.query_params.get("status", "200"))
        wanted = request.query_params.get("status", "200")
        if wanted == "raise":
            raise RuntimeError("probe failure")
        return Response({"calls": len(CALLS)}, status=int(wanted))


urlpatterns = [
    api_path("api/v1/_probe/idempotent", ProbeView.as_view(), name="probe-idempotent"),
    *project_urlpatterns,
]
