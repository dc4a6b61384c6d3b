"""Offers for couriers; on-demand matching for a trip's courier and for admins."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.deliveries.serializers import CourierDeliverySerializer
from marketplace.api.matching.serializers import (
    BundleSerializer,
    FitSerializer,
    OfferSerializer,
    ParcelAlongTripSerializer,
)
from marketplace.api.users import api_user
from marketplace.core.permissions import IsCourier
from marketplace.lifecycle import assigning
from marketplace.lifecycle import matching as lifecycle
from marketplace.matching import engine, selectors
from marketplace.matching.models import Offer, OfferBundle, OfferStatus
from marketplace.parcels.models import Parcel
from marketplace.trips.selectors import trips_of_courier


class OfferViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Offer]
):
    """My offers (pending and not expired unless `?status=` says otherwise)."""

    permission_classes = [IsCourier]
    serializer_class = OfferSerializer
    queryset = Offer.objects.none()
    filterset_fields = ["status", "trip"]

    def get_queryset(self) -> QuerySet[Offer]:
        if getattr(self, "swagger_fake_view", False):
            return Offer.objects.none()
        return selectors.offers_of_courier(
            courier=api_user(self.request), status=self.request.query_params.get("status")
        )

    @extend_schema(request=None, responses={201: CourierDeliverySerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        delivery = lifecycle.offer_accept(offer_id=int(pk or 0), courier=api_user(request))
        return Response(CourierDeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=OfferSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        offer = lifecycle.offer_decline(offer_id=int(pk or 0), courier=api_user(request))
        return Response(OfferSerializer(offer).data)


class BundleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[OfferBundle]
):
    """Parcels a batch assignment offered me together for one trip (those with a pending
    offer), with their stops in route order. Accept the bundle whole, or its offers one by one
    (`courier/offers/{id}/accept/`)."""

    permission_classes = [IsCourier]
    serializer_class = BundleSerializer
    queryset = OfferBundle.objects.none()

    def get_queryset(self) -> QuerySet[OfferBundle]:
        if getattr(self, "swagger_fake_view", False):
            return OfferBundle.objects.none()
        mine = OfferBundle.objects.filter(courier=api_user(self.request))
        if self.action == "list":
            mine = mine.filter(offers__status=OfferStatus.PENDING).distinct()
        return mine.order_by("-created_at", "-pk")

    @extend_schema(request=None, responses={201: CourierDeliverySerializer(many=True)})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        """All of the bundle's pending offers, or none (409 naming the parcel that failed)."""
        bundle = self.get_object()
        deliveries = assigning.bundle_accept(bundle_id=bundle.pk, courier=api_user(request))
        data = CourierDeliverySerializer(deliveries, many=True).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=BundleSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        bundle = self.get_object()
        assigning.bundle_decline(bundle_id=bundle.pk, courier=api_user(request))
        return Response(self.get_serializer(bundle).data)


class ParcelsAlongTripApi(APIView):
    """Open parcels that fit my trip, best first (areas only, until I accept one)."""

    permission_classes = [IsCourier]

    @extend_schema(responses=ParcelAlongTripSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        trip = get_object_or_404(trips_of_courier(courier=api_user(request)), pk=pk)
        fits = engine.parcels_for_trip(trip, limit=50)
        parcels = Parcel.objects.in_bulk([f.parcel_id for f in fits])
        rows = [ParcelAlongTripSerializer.pair(parcels[f.parcel_id], f) for f in fits]
        return Response(ParcelAlongTripSerializer(rows, many=True).data)


class TripsForParcelApi(APIView):
    """Admin: the trips a parcel fits right now, best first."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses=FitSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        parcel = get_object_or_404(Parcel, pk=pk)
        return Response(FitSerializer(engine.trips_for_parcel(parcel, limit=50), many=True).data)
