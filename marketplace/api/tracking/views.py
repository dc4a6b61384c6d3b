"""Tracking over REST: the courier's batch of pings after losing signal, the position for the
parties of a delivery, and the shipper's public link for the recipient."""

from __future__ import annotations

from typing import cast

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.accounts.models import User
from marketplace.api.tracking.serializers import (
    DeliveryPositionSerializer,
    PingBatchSerializer,
    PingResultSerializer,
    TrackingLinkSerializer,
)
from marketplace.api.users import api_user
from marketplace.core.exceptions import NotAllowedError
from marketplace.core.permissions import IsCourier
from marketplace.deliveries.selectors import deliveries_of_courier
from marketplace.tracking import selectors, services


def _user(request: Request) -> User:
    """The authenticated user (every view here requires one)."""
    return cast(User, api_user(request))


class CourierPingsApi(APIView):
    """Pings with their device times, as a batch (up to TRACKING_MAX_BATCH). Valid ones are
    stored; each refused one is listed with its index and reason (see tracking.services).
    409 `not_tracking` before pickup and after delivery."""

    permission_classes = [IsCourier]

    @extend_schema(request=PingBatchSerializer, responses=PingResultSerializer)
    def post(self, request: Request, pk: int) -> Response:
        courier = _user(request)
        delivery = get_object_or_404(deliveries_of_courier(courier=courier), pk=pk)
        data = PingBatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.pings_record(
            delivery=delivery, courier=courier, pings=data.validated_data["pings"]
        )
        return Response(
            PingResultSerializer({"accepted": result.accepted, "rejected": result.rejected}).data
        )


class DeliveryPositionApi(APIView):
    """The courier's latest position, for the delivery's shipper, courier and staff. Between
    pickup and delivery only: otherwise `position` is null."""

    @extend_schema(responses=DeliveryPositionSerializer)
    def get(self, request: Request, pk: int) -> Response:
        delivery = get_object_or_404(selectors.deliveries_visible_to(user=_user(request)), pk=pk)
        position = selectors.live_position_shown(delivery=delivery)
        return Response(
            DeliveryPositionSerializer(
                {
                    "delivery_id": delivery.pk,
                    "status": delivery.status,
                    "tracking": selectors.is_tracking(delivery),
                    "position": selectors.position_frame(position) if position else None,
                }
            ).data
        )


class DeliveryTrackingLinkApi(APIView):
    """The public tracking link of the shipper's delivery, to send to the recipient."""

    @extend_schema(responses=TrackingLinkSerializer)
    def get(self, request: Request, pk: int) -> Response:
        delivery = get_object_or_404(selectors.deliveries_visible_to(user=_user(request)), pk=pk)
        if delivery.parcel.shipper_id != api_user(request).pk and not api_user(request).is_staff:
            raise NotAllowedError(
                gettext("Only the shipper shares the tracking link."), code="not_owner"
            )
        link = services.tracking_link_get_or_create(delivery=delivery)
        url = request.build_absolute_uri(reverse("tracking:public_track", args=[link.token]))
        return Response(TrackingLinkSerializer({"url": url, "token": link.token}).data)
