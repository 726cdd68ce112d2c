"""Authentication and current-user endpoints."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import UntypedToken

from accounts.api.serializers import (
    LoginInputSerializer,
    MeOutputSerializer,
    MeUpdateSerializer,
    MfaChallengeSerializer,
    PasswordChangeInputSerializer,
    PasswordResetConfirmInputSerializer,
    PasswordResetInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    TokenPairSerializer,
)
from accounts.email_addresses import email_key
from accounts.permissions import RefusesApiKeys
from accounts.request_user import request_user
from accounts.services.auth import user_login, user_profile_update, user_register
from accounts.services.mfa import MfaChallenge
from accounts.services.passwords import password_change, password_reset_confirm, password_reset_request
from accounts.services.tokens import token_blacklist, token_refresh
from accounts.tasks import password_reset_task
from core.throttles import AccountThrottle, ClientAddressThrottle
from core.validation import validated_data

NO_CONTENT = OpenApiResponse(description="Done; no body.")


class PublicAuthView(APIView):
    """Base of the unauthenticated auth endpoints: no credentials needed, throttled per address and per account."""

    authentication_classes: list = []
    permission_classes = [RefusesApiKeys]
    throttle_classes = [ClientAddressThrottle, AccountThrottle]
    throttle_scope = ""
    account_field = "email"

    def get_authenticate_header(self, request: Request) -> str:
        # Without authenticators DRF would turn every 401 into a 403.
        return 'Bearer realm="api"'

    def throttle_account(self, request: Request) -> str | None:
        value = request.data.get(self.account_field) if hasattr(request.data, "get") else None
        if not isinstance(value, str) or not value:
            return None
        # One bucket per account, however its address is spelled (case, compatibility look-alikes).
        return email_key(value) if self.account_field == "email" else value


class RegisterView(PublicAuthView):
    throttle_scope = "register"

    @extend_schema(request=RegisterInputSerializer, responses={201: MeOutputSerializer})
    def post(self, request: Request) -> Response:
        user = user_register(**validated_data(RegisterInputSerializer, request.data))
        return Response(MeOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAuthView):
    throttle_scope = "login"

    @extend_schema(
        request=LoginInputSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="LoginResult",
                serializers=[TokenPairSerializer, MfaChallengeSerializer],
                resource_type_field_name=None,
            )
        },
    )
    def post(self, request: Request) -> Response:
        data = validated_data(LoginInputSerializer, request.data)
        result = user_login(request=request._request, email=data["email"], password=data["password"])
        return Response(asdict(result) if isinstance(result, MfaChallenge) else result)


class RefreshTokenAccountMixin(PublicAuthView):
    account_field = "refresh"

    def throttle_account(self, request: Request) -> str | None:
        """The user id of a correctly signed token, so nobody can spend another user's allowance."""
        raw = super().throttle_account(request)
        if raw is None:
            return None
        try:
            token = UntypedToken(raw)  # type: ignore[arg-type]  # simplejwt annotates the encoded token (a str) as Token | None
            return str(token.payload.get(jwt_settings.USER_ID_CLAIM))
        except TokenError:
            return None


class RefreshView(RefreshTokenAccountMixin, PublicAuthView):
    throttle_scope = "refresh"

    @extend_schema(request=RefreshInputSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request) -> Response:
        return Response(token_refresh(raw_refresh=validated_data(RefreshInputSerializer, request.data)["refresh"]))


class LogoutView(RefreshTokenAccountMixin, PublicAuthView):
    throttle_scope = "refresh"

    @extend_schema(request=RefreshInputSerializer, responses={204: NO_CONTENT})
    def post(self, request: Request) -> Response:
        token_blacklist(raw_refresh=validated_data(RefreshInputSerializer, request.data)["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(PublicAuthView):
    throttle_scope = "password"

    @extend_schema(request=PasswordResetInputSerializer, responses={204: NO_CONTENT})
    def post(self, request: Request) -> Response:
        email = validated_data(PasswordResetInputSerializer, request.data)["email"]
        if settings.CELERY_BROKER_URL:
            # Queued for every address, known or not, so the response takes the same time either way.
            transaction.on_commit(lambda: password_reset_task.delay(email), robust=True)
        else:
            password_reset_request(email=email)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetConfirmView(PublicAuthView):
    throttle_scope = "password"
    account_field = "uid"

    @extend_schema(request=PasswordResetConfirmInputSerializer, responses={204: NO_CONTENT})
    def post(self, request: Request) -> Response:
        password_reset_confirm(**validated_data(PasswordResetConfirmInputSerializer, request.data))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeOutputSerializer(request.user).data)

    @extend_schema(request=MeUpdateSerializer, responses=MeOutputSerializer)
    def patch(self, request: Request) -> Response:
        serializer = MeUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = user_profile_update(user=request_user(request), **serializer.validated_data)
        return Response(MeOutputSerializer(user).data)


class MePasswordView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ClientAddressThrottle, AccountThrottle]
    throttle_scope = "password"

    def throttle_account(self, request: Request) -> str | None:
        return f"user:{request.user.pk}" if request.user.is_authenticated else None

    @extend_schema(request=PasswordChangeInputSerializer, responses={204: NO_CONTENT})
    def post(self, request: Request) -> Response:
        password_change(user=request_user(request), **validated_data(PasswordChangeInputSerializer, request.data))
        return Response(status=status.HTTP_204_NO_CONTENT)
