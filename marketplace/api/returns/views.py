"""Returns API: the shipper sends a delivered parcel back, approves or refuses what the
recipient asked; the courier sends a failed delivery back; the recipient asks with the tracking
link's token. Others' parcels are 404."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.returns.serializers import (
    ParcelReturnSerializer,
    PublicReturnSerializer,
    RefuseSerializer,
    ReturnRequestSerializer,
    SendBackSerializer,
    ShipperReturnRequestSerializer,
)
from marketplace.api.users import api_user
from marketplace.core.parsers import WITH_UPLOADS
from marketplace.core.permissions import IsCourier, IsShipper
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle import returning
from marketplace.parcels.models import Parcel
from marketplace.parcels.selectors import parcel_get_for_shipper
from marketplace.returns import selectors
from marketplace.returns.models import ParcelReturn
from marketplace.tracking.selectors import tracking_link_by_token

PARSERS = WITH_UPLOADS


def _validated(request: Request, serializer_class: type) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ParcelReturnApi(APIView):
    """GET: the parcel's return (404 if none). POST: send the delivered parcel back."""

    permission_classes = [IsShipper]
    parser_classes = PARSERS

    def _parcel(self, request: Request, pk: int) -> Parcel:
        try:
            return parcel_get_for_shipper(shipper=api_user(request), pk=pk)
        except Parcel.DoesNotExist as exc:
            raise Http404("No such parcel.") from exc

    @extend_schema(responses=ParcelReturnSerializer)
    def get(self, request: Request, pk: int) -> Response:
        parcel_return = selectors.return_current(parcel=self._parcel(request, pk))
        if parcel_return is None:
            raise Http404("This parcel has no return.")
        return Response(ParcelReturnSerializer(parcel_return).data)

    @extend_schema(request=ShipperReturnRequestSerializer, responses={201: ParcelReturnSerializer})
    def post(self, request: Request, pk: int) -> Response:
        fields = _validated(request, ShipperReturnRequestSerializer)
        parcel_return = returning.return_request(
            parcel=self._parcel(request, pk), actor=api_user(request), **fields
        )
        return Response(ParcelReturnSerializer(parcel_return).data, status=status.HTTP_201_CREATED)


class ReturnViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ParcelReturn]
):
    """The shipper's returns; approve or refuse one the recipient asked for."""

    permission_classes = [IsShipper]
    serializer_class = ParcelReturnSerializer
    queryset = ParcelReturn.objects.none()  # for the schema generator
    filterset_fields = ["status", "requested_by", "reason_code"]

    def get_queryset(self) -> QuerySet[ParcelReturn]:
        if getattr(self, "swagger_fake_view", False):
            return ParcelReturn.objects.none()
        return selectors.returns_of_shipper(shipper=api_user(self.request))

    @extend_schema(request=None, responses=ParcelReturnSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        parcel_return = returning.return_approve(
            parcel_return=self.get_object(), actor=api_user(request)
        )
        return Response(self.get_serializer(parcel_return).data)

    @extend_schema(request=RefuseSerializer, responses=ParcelReturnSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request: Request, pk: str | None = None) -> Response:
        data = RefuseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parcel_return = returning.return_refuse(
            parcel_return=self.get_object(),
            actor=api_user(request),
            reason=data.validated_data["reason"],
        )
        return Response(self.get_serializer(parcel_return).data)


class SendBackApi(APIView):
    """The assigned courier sends a failed delivery back to its sender (a reverse parcel)."""

    permission_classes = [IsCourier]

    @extend_schema(request=SendBackSerializer, responses={201: ParcelReturnSerializer})
    def post(self, request: Request, pk: int) -> Response:
        delivery = get_object_or_404(Delivery, pk=pk, courier=api_user(request))
        data = SendBackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parcel_return = returning.return_send_back(
            delivery=delivery, actor=api_user(request), reason=data.validated_data["reason"]
        )
        return Response(ParcelReturnSerializer(parcel_return).data, status=status.HTTP_201_CREATED)


class PublicReturnApi(APIView):
    """The recipient asks to send the parcel back, with the tracking link's token."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    parser_classes = PARSERS

    @extend_schema(request=ReturnRequestSerializer, responses={201: PublicReturnSerializer})
    def post(self, request: Request, token: str) -> Response:
        link = tracking_link_by_token(token=token)
        if link is None:
            raise Http404("No such tracking link.")
        fields = _validated(request, ReturnRequestSerializer)
        parcel_return = returning.return_request_by_recipient(parcel=link.delivery.parcel, **fields)
        return Response(PublicReturnSerializer(parcel_return).data, status=status.HTTP_201_CREATED)
