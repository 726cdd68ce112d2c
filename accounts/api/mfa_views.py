"""Two-factor endpoints: enrolment and management under users/me/mfa (JWT only), and the second login step."""

from __future__ import annotations

from dataclasses import asdict
from typing import cast

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import Token

from accounts.api.serializers import (
    MfaCodeInputSerializer,
    MfaDisableInputSerializer,
    MfaLoginInputSerializer,
    RecoveryCodesSerializer,
    TokenPairSerializer,
    TotpConfirmInputSerializer,
    TotpEnrolmentSerializer,
)
from accounts.api.views import NO_CONTENT, PublicAuthView
from accounts.permissions import IsAuthenticatedWithJWT
from accounts.request_user import request_user
from accounts.services.mfa import (
    mfa_disable,
    mfa_login_complete,
    mfa_recovery_codes_regenerate,
    mfa_token_user_id,
    mfa_totp_confirm,
    mfa_totp_enrolment_start,
)
from accounts.services.tokens import SESSION_CLAIM
from core.throttles import AccountThrottle, ClientAddressThrottle
from core.validation import validated_data

CONFLICT = OpenApiResponse(
    description="Not possible in the account's two-factor state (already on, not on, nothing pending); code `conflict`."
)
THROTTLED = OpenApiResponse(description="Too many wrong codes: the account's back-off runs; see Retry-After.")


INVALID = OpenApiResponse(description="Invalid input: a field error on `password` or `code`.")


class DeleteWithBodySchema(AutoSchema):
    """Documents the request body of a DELETE (drf-spectacular shows bodies for POST, PUT and PATCH only)."""

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


class MfaLoginView(PublicAuthView):
    """auth/login/mfa: the second login step. Throttled per client address and per account (the token's user)."""

    throttle_scope = "login"
    account_field = "mfa_token"

    def throttle_account(self, request: Request) -> str | None:
        raw = super().throttle_account(request)
        user_id = mfa_token_user_id(mfa_token=raw) if raw else None
        return f"user:{user_id}" if user_id is not None else None

    @extend_schema(tags=["auth"], request=MfaLoginInputSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request) -> Response:
        data = validated_data(MfaLoginInputSerializer, request.data)
        return Response(mfa_login_complete(mfa_token=data["mfa_token"], code=data["code"]))


class MfaSelfServiceView(APIView):
    permission_classes = [IsAuthenticatedWithJWT]


class TotpEnrolmentView(MfaSelfServiceView):
    @extend_schema(tags=["users"], request=None, responses={200: TotpEnrolmentSerializer, 409: CONFLICT})
    def post(self, request: Request) -> Response:
        return Response(asdict(mfa_totp_enrolment_start(user=request_user(request))))


class TotpConfirmView(MfaSelfServiceView):
    @extend_schema(
        tags=["users"],
        request=TotpConfirmInputSerializer,
        responses={200: RecoveryCodesSerializer, 409: CONFLICT, 429: THROTTLED},
    )
    def post(self, request: Request) -> Response:
        data = validated_data(TotpConfirmInputSerializer, request.data)
        # IsAuthenticatedWithJWT: the credentials here are always simplejwt's validated access token.
        access_token = cast(Token, request.auth)
        _device, codes = mfa_totp_confirm(
            user=request_user(request), code=data["code"], keep_refresh_jti=access_token.get(SESSION_CLAIM)
        )
        return Response({"recovery_codes": codes})


class MfaView(MfaSelfServiceView):
    """users/me/mfa: DELETE turns MFA off (password and a code); throttled like a password change."""

    throttle_classes = [ClientAddressThrottle, AccountThrottle]
    throttle_scope = "password"
    schema = DeleteWithBodySchema()

    def throttle_account(self, request: Request) -> str | None:
        return f"user:{request.user.pk}" if request.user.is_authenticated else None

    @extend_schema(
        tags=["users"],
        request=MfaDisableInputSerializer,
        responses={204: NO_CONTENT, 400: INVALID, 409: CONFLICT, 429: THROTTLED},
    )
    def delete(self, request: Request) -> Response:
        data = validated_data(MfaDisableInputSerializer, request.data)
        mfa_disable(user=request_user(request), password=data["password"], code=data["code"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecoveryCodesView(MfaSelfServiceView):
    @extend_schema(
        tags=["users"],
        request=MfaCodeInputSerializer,
        responses={200: RecoveryCodesSerializer, 409: CONFLICT, 429: THROTTLED},
    )
    def post(self, request: Request) -> Response:
        data = validated_data(MfaCodeInputSerializer, request.data)
        return Response(
            {"recovery_codes": mfa_recovery_codes_regenerate(user=request_user(request), code=data["code"])}
        )
