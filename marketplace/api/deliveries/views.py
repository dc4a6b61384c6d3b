"""Deliveries: the courier moves them step by step; the shipper follows them."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.deliveries.serializers import (
    CodeSerializer,
    CourierDeliverySerializer,
    DeliverSerializer,
    DeliveryEventSerializer,
    OptionalReasonSerializer,
    RatingInputSerializer,
    RatingSerializer,
    ReasonSerializer,
    ReissueSerializer,
    ShipperDeliverySerializer,
    StopSerializer,
)
from marketplace.api.users import api_user
from marketplace.core.exceptions import NotFoundError
from marketplace.core.parsers import WITH_UPLOADS
from marketplace.core.permissions import IsCourier, IsShipper
from marketplace.deliveries import selectors, services
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle import cancelling, delivering
from marketplace.parcels.selectors import parcels_of_shipper
from marketplace.trips.selectors import trips_of_courier


class CourierDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Delivery]
):
    """My deliveries as a courier, and the steps: pickup (code), start, deliver (code + proof),
    fail, hand back, cancel (before pickup), rate the shipper."""

    permission_classes = [IsCourier]
    serializer_class = CourierDeliverySerializer
    queryset = Delivery.objects.none()
    filterset_fields = ["status", "trip"]
    parser_classes = WITH_UPLOADS

    def get_queryset(self) -> QuerySet[Delivery]:
        if getattr(self, "swagger_fake_view", False):
            return Delivery.objects.none()
        return selectors.deliveries_of_courier(courier=api_user(self.request))

    def _done(self, delivery: Delivery) -> Response:
        delivery.refresh_from_db()
        return Response(self.get_serializer(delivery).data)

    @extend_schema(request=CodeSerializer, responses=CourierDeliverySerializer)
    @action(detail=True, methods=["post"])
    def pickup(self, request: Request, pk: str | None = None) -> Response:
        delivery = self.get_object()
        data = CodeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._done(
            delivering.delivery_confirm_pickup(
                delivery=delivery, actor=api_user(request), code=data.validated_data["code"]
            )
        )

    @extend_schema(request=None, responses=CourierDeliverySerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        return self._done(
            delivering.delivery_start_transit(delivery=self.get_object(), actor=api_user(request))
        )

    @extend_schema(request=DeliverSerializer, responses=CourierDeliverySerializer)
    @action(detail=True, methods=["post"])
    def deliver(self, request: Request, pk: str | None = None) -> Response:
        delivery = self.get_object()
        data = DeliverSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return self._done(
            delivering.delivery_confirm_delivered(
                delivery=delivery,
                actor=api_user(request),
                code=v["code"].strip(),
                photo=v.get("photo"),
                signature=v.get("signature"),
                id_checked=v["id_checked"],
            )
        )

    @extend_schema(request=ReasonSerializer, responses=CourierDeliverySerializer)
    @action(detail=True, methods=["post"])
    def fail(self, request: Request, pk: str | None = None) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._done(
            delivering.delivery_fail(
                delivery=self.get_object(),
                actor=api_user(request),
                reason=data.validated_data["reason"],
            )
        )

    @extend_schema(request=None, responses=CourierDeliverySerializer)
    @action(detail=True, methods=["post"], url_path="hand-back")
    def hand_back(self, request: Request, pk: str | None = None) -> Response:
        return self._done(
            delivering.delivery_hand_back(delivery=self.get_object(), actor=api_user(request))
        )

    @extend_schema(request=OptionalReasonSerializer, responses=CourierDeliverySerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        data = OptionalReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._done(
            cancelling.delivery_cancel_by_courier(
                delivery=self.get_object(),
                actor=api_user(request),
                reason=data.validated_data["reason"],
            )
        )

    @extend_schema(request=RatingInputSerializer, responses={201: RatingSerializer})
    @action(detail=True, methods=["post"])
    def rate(self, request: Request, pk: str | None = None) -> Response:
        data = RatingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.rating_create(
            delivery=self.get_object(), rater=api_user(request), **data.validated_data
        )
        return Response(RatingSerializer(rating).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=DeliveryEventSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filterset_fields=[])
    def events(self, request: Request, pk: str | None = None) -> Response:
        return Response(DeliveryEventSerializer(self.get_object().events.all(), many=True).data)


class TripStopsApi(APIView):
    """My trip's stops (pickups and drop-offs of its parcels) in route order."""

    permission_classes = [IsCourier]

    @extend_schema(responses=StopSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        trip = get_object_or_404(trips_of_courier(courier=api_user(request)), pk=pk)
        return Response(StopSerializer(selectors.trip_stops(trip=trip), many=True).data)


def _shipper_delivery(request: Request, pk: int) -> Delivery:
    parcel = get_object_or_404(parcels_of_shipper(shipper=api_user(request)), pk=pk)
    delivery = selectors.delivery_of_parcel(parcel=parcel)
    if delivery is None:
        raise NotFoundError(
            gettext("No courier has been assigned to this parcel yet."), code="no_delivery"
        )
    return delivery


class ParcelDeliveryApi(APIView):
    """The shipper's view of their parcel's delivery: courier, codes, estimates, CO2 saved."""

    permission_classes = [IsShipper]

    @extend_schema(responses=ShipperDeliverySerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ShipperDeliverySerializer(_shipper_delivery(request, pk)).data)


class ParcelRateApi(APIView):
    permission_classes = [IsShipper]

    @extend_schema(request=RatingInputSerializer, responses={201: RatingSerializer})
    def post(self, request: Request, pk: int) -> Response:
        data = RatingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.rating_create(
            delivery=_shipper_delivery(request, pk), rater=api_user(request), **data.validated_data
        )
        return Response(RatingSerializer(rating).data, status=status.HTTP_201_CREATED)


class ParcelReissueCodeApi(APIView):
    permission_classes = [IsShipper]

    @extend_schema(request=ReissueSerializer, responses=ShipperDeliverySerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = ReissueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        delivery = services.delivery_reissue_code(
            delivery=_shipper_delivery(request, pk),
            actor=api_user(request),
            kind=data.validated_data["kind"],
        )
        return Response(ShipperDeliverySerializer(delivery).data)
