"""Parcels API. Shippers see and change only their own parcels (others get 404); couriers browse
open parcels without addresses or contacts."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from marketplace.api.merchants.authentication import (
    MerchantKeyAuthentication,
    MerchantKeyThrottle,
    request_key,
)
from marketplace.api.parcels.filters import OpenParcelFilter, ParcelFilter
from marketplace.api.parcels.serializers import (
    CancelSerializer,
    CourierParcelSerializer,
    ParcelEventSerializer,
    ParcelInputSerializer,
    ParcelRulesSerializer,
    ParcelSerializer,
    QuoteInputSerializer,
    QuoteSerializer,
)
from marketplace.api.users import api_user
from marketplace.core.parsers import WITH_UPLOADS
from marketplace.core.permissions import IsCourier, IsShipper
from marketplace.core.spatial import columns_except, with_coordinates
from marketplace.lifecycle import cancelling, posting
from marketplace.parcels import options, selectors
from marketplace.parcels.held_quotes import held_quote_create
from marketplace.parcels.models import Parcel

# Columns of a parcel that only matching reads (PostGIS computes them from the points and windows).
MATCHING_COPIES = ("pickup_merc", "dropoff_merc", "match_range")
LIST_POINTS = ("pickup_point", "dropoff_point")
LIST_COLUMNS = columns_except(Parcel, *MATCHING_COPIES, *LIST_POINTS)


class ParcelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Parcel]
):
    """The shipper's own parcels: post, list, view, edit while draft/open, publish, cancel."""

    permission_classes = [IsShipper]
    serializer_class = ParcelSerializer
    filterset_class = ParcelFilter
    ordering_fields = ["created_at", "pickup_window_start", "price_total"]
    parser_classes = WITH_UPLOADS

    queryset = Parcel.objects.none()  # for the schema generator; real rows come from selectors

    def get_queryset(self) -> QuerySet[Parcel]:
        if getattr(self, "swagger_fake_view", False):
            return Parcel.objects.none()
        parcels = selectors.parcels_of_shipper(shipper=api_user(self.request))
        if self.action == "list":
            # Matching's copies are never shown: not read, so not parsed. The points are shown
            # from coordinates PostGIS reads (no geometry parsed per row either).
            parcels = with_coordinates(parcels.only(*LIST_COLUMNS), *LIST_POINTS)
        return parcels

    @extend_schema(request=ParcelInputSerializer, responses={201: ParcelSerializer})
    def create(self, request: Request) -> Response:
        data = ParcelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parcel = posting.parcel_create(shipper=api_user(request), **data.validated_data)
        return Response(self.get_serializer(parcel).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ParcelInputSerializer, responses=ParcelSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        parcel = self.get_object()
        data = ParcelInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        changes.pop("publish", None)
        parcel = posting.parcel_update(parcel=parcel, actor=api_user(request), **changes)
        return Response(self.get_serializer(parcel).data)

    @extend_schema(request=None, responses=ParcelSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        parcel = posting.parcel_publish(parcel=self.get_object(), actor=api_user(request))
        return Response(self.get_serializer(parcel).data)

    @extend_schema(request=CancelSerializer, responses=ParcelSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        data = CancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parcel = cancelling.parcel_cancel(
            parcel=self.get_object(), actor=api_user(request), reason=data.validated_data["reason"]
        )
        return Response(self.get_serializer(parcel).data)

    @extend_schema(responses=ParcelEventSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def events(self, request: Request, pk: str | None = None) -> Response:
        parcel = self.get_object()
        return Response(ParcelEventSerializer(parcel.events.all(), many=True).data)


class OpenParcelViewSet(viewsets.ReadOnlyModelViewSet[Parcel]):
    """Open parcels, as a courier sees them before assignment: areas, not addresses."""

    permission_classes = [IsCourier]
    serializer_class = CourierParcelSerializer
    filterset_class = OpenParcelFilter
    ordering_fields = ["pickup_window_start", "courier_share", "created_at"]

    queryset = Parcel.objects.none()  # for the schema generator; real rows come from selectors

    def get_queryset(self) -> QuerySet[Parcel]:
        if getattr(self, "swagger_fake_view", False):
            return Parcel.objects.none()
        return selectors.parcels_open_for_couriers(courier=api_user(self.request))


# The stubs type these settings as strings; at run time they are the classes.
DEFAULT_AUTHENTICATION = cast(
    "list[type[BaseAuthentication]]", api_settings.DEFAULT_AUTHENTICATION_CLASSES
)
DEFAULT_THROTTLES = cast("list[type[BaseThrottle]]", api_settings.DEFAULT_THROTTLE_CLASSES)


class QuoteApi(APIView):
    """Price a delivery without posting it. The price is held until `expires_at`
    (QUOTE_VALIDITY_MINUTES): a merchant delivery created with this quote's `id` pays it.
    Shippers (JWT or session) and merchants' API keys may ask."""

    authentication_classes = [*DEFAULT_AUTHENTICATION, MerchantKeyAuthentication]
    throttle_classes = [*DEFAULT_THROTTLES, MerchantKeyThrottle]

    @extend_schema(request=QuoteInputSerializer, responses=QuoteSerializer)
    def post(self, request: Request) -> Response:
        data = QuoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        key = request_key(request)
        held, quote = held_quote_create(
            requested_by=api_user(request),
            merchant=key.merchant if key else None,
            pickup=v["pickup_point"],
            dropoff=v["dropoff_point"],
            size_class=v["size_class"],
            weight_grams=v["weight_grams"],
            delivery_window_end=v["delivery_window_end"],
        )
        body = {**quote.as_dict(), "id": held.pk, "expires_at": held.expires_at}
        return Response(QuoteSerializer(body).data)


class ParcelRulesApi(APIView):
    """What may be sent: the prohibited items a shipper declares against at posting, and the
    cover limit on a parcel's declared value. Public."""

    permission_classes = [AllowAny]

    @extend_schema(responses=ParcelRulesSerializer)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "prohibited_items": options.prohibited_items(),
                "declaration_required": options.declaration_required(),
                "cover_limit": options.cover_limit(),
                "currency": settings.MARKETPLACE_CURRENCY,
            }
        )
