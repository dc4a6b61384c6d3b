from collections.abc import Sequence

from django.db import transaction
from django.http import HttpResponse
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from marketplace.accounts.models import User
from marketplace.accounts.services import courier_profile_upsert, user_register
from marketplace.api.accounts.serializers import (
    AccountEraseSerializer,
    CourierProfileInputSerializer,
    CourierProfileSerializer,
    RegisterResponseSerializer,
    RegisterSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from marketplace.api.users import api_user
from marketplace.core.exceptions import ApplicationError, NotAllowedError
from marketplace.lifecycle.erasure import account_erase
from marketplace.lifecycle.personal_data import personal_data_download


class AuthThrottleMixin:
    throttle_classes: Sequence[type[BaseThrottle]] = (ScopedRateThrottle,)
    throttle_scope = "auth"


class RegisterApi(AuthThrottleMixin, APIView):
    """Create an account (shipper, courier or both) and get a JWT pair."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RegisterSerializer, responses={201: RegisterResponseSerializer})
    def post(self, request: Request) -> Response:
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_register(**data.validated_data)
        refresh = RefreshToken.for_user(user)
        body = {
            "user": UserSerializer(user).data,
            "tokens": {"access": str(refresh.access_token), "refresh": str(refresh)},
        }
        return Response(body, status=status.HTTP_201_CREATED)


class LoginApi(AuthThrottleMixin, TokenObtainPairView):
    """Exchange email and password for an access token (15 min) and a refresh token."""


class RefreshApi(AuthThrottleMixin, TokenRefreshView):
    """Exchange a refresh token for a new pair; the old refresh token is blacklisted."""


class LogoutApi(AuthThrottleMixin, TokenBlacklistView):
    """Blacklist a refresh token (log out this device)."""


class MyDataApi(APIView):
    """Download everything about me that is mine: a ZIP with data.json and my photos."""

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request: Request) -> HttpResponse:
        name, body = personal_data_download(user=api_user(request))
        response = HttpResponse(body, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response


class MeApi(APIView):
    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(api_user(request)).data)

    @extend_schema(request=UserUpdateSerializer, responses=UserSerializer)
    def patch(self, request: Request) -> Response:
        data = UserUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            user = User.objects.select_for_update().get(pk=api_user(request).pk)
            for name, value in data.validated_data.items():
                setattr(user, name, value)
            if not (user.is_shipper or user.is_courier):
                raise ApplicationError(
                    gettext("Keep at least one role: shipper or courier."), code="no_role"
                )
            user.save()
        return Response(UserSerializer(user).data)

    @extend_schema(request=AccountEraseSerializer, responses={204: None})
    def delete(self, request: Request) -> Response:
        """Erase my account (docs/personal-data.md): 204; 403 on a wrong password; 409
        `erasure_blocked` with `details.reasons` while a parcel, delivery, escrow, dispute or
        transfer is still open."""
        data = AccountEraseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = api_user(request)
        if not user.check_password(data.validated_data["password"]):
            raise NotAllowedError(gettext("That is not your password."), code="wrong_password")
        account_erase(user=user, actor=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CourierProfileApi(APIView):
    """The courier's vehicle and capacity. PUT creates it (and adds the courier role)."""

    @extend_schema(responses=CourierProfileSerializer)
    def get(self, request: Request) -> Response:
        profile = getattr(api_user(request), "courier_profile", None)
        if profile is None:
            raise ApplicationError(
                gettext("You have no courier profile yet; PUT one to become a courier."),
                code="no_courier_profile",
            )
        return Response(CourierProfileSerializer(profile).data)

    @extend_schema(request=CourierProfileInputSerializer, responses=CourierProfileSerializer)
    def put(self, request: Request) -> Response:
        data = CourierProfileInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = courier_profile_upsert(user=api_user(request), **data.validated_data)
        return Response(CourierProfileSerializer(profile).data)
