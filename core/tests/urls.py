"""A URLconf for plumbing tests: the real project URLs plus a few probe views under /api/v1/_probe/."""

from django.urls import path
from rest_framework import serializers, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from config.urls import urlpatterns as project_urlpatterns
from core.routers import ApiRouter, api_path


class EchoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    value = serializers.FloatField()


class EchoView(APIView):
    """Validates one object or a list and echoes it back."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request):
        many = isinstance(request.data, list)
        serializer = EchoSerializer(data=request.data, many=many)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.data, status=201)


class BoomView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("probe failure with secret-ish context")


def plain_boom(request):
    raise RuntimeError("plain django view failure")


class UserEmailSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email"]


class ProbeUserViewSet(viewsets.ReadOnlyModelViewSet):
    """Paginated, permission-checked through the project defaults."""

    queryset = User.objects.order_by("id")
    serializer_class = UserEmailSerializer


router = ApiRouter()
router.register("api/v1/_probe/users", ProbeUserViewSet, basename="probe-users")

urlpatterns = [
    api_path("api/v1/_probe/echo", EchoView.as_view(), name="probe-echo"),
    api_path("api/v1/_probe/boom", BoomView.as_view(), name="probe-boom"),
    path("api/v1/_probe/plain-boom", plain_boom),
    *router.urls,
    *project_urlpatterns,
]
