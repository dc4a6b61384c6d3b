from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet

from marketplace.accounts.models import User
from marketplace.deliveries.models import (
    ACTIVE_STATUSES,
    HOLDS_CAPACITY,
    Delivery,
    DeliveryStatus,
)
from marketplace.parcels.models import Parcel
from marketplace.trips.models import Trip, TripStatus


def deliveries_of_courier(*, courier: User) -> QuerySet[Delivery]:
    return Delivery.objects.filter(courier=courier).select_related("parcel", "trip")


def delivery_of_parcel(*, parcel: Parcel) -> Delivery | None:
    """The parcel's current delivery, or its latest one."""
    deliveries = Delivery.objects.filter(parcel=parcel).select_related("courier", "trip")
    return (
        deliveries.filter(status__in=ACTIVE_STATUSES).first()
        or deliveries.order_by("-created_at").first()
    )


@dataclass(frozen=True)
class Stop:
    delivery_id: int
    parcel_id: int
    kind: str  # "pickup" or "dropoff"
    position_m: int
    predicted_at: datetime
    address: str
    contact_name: str
    contact_phone: str
    done: bool


def trip_stops(*, trip: Trip) -> list[Stop]:
    """The courier's stops on a trip, in the order they come along the route."""
    stops: list[Stop] = []
    deliveries = trip.deliveries.filter(status__in=ACTIVE_STATUSES).select_related("parcel")
    for d in deliveries:
        p = d.parcel
        picked = d.status != DeliveryStatus.ASSIGNED
        stops.append(
            Stop(
                d.pk,
                p.pk,
                "pickup",
                d.pickup_position_m,
                d.predicted_pickup_at,
                p.pickup_address,
                p.pickup_contact_name,
                p.pickup_contact_phone,
                picked,
            )
        )
        stops.append(
            Stop(
                d.pk,
                p.pk,
                "dropoff",
                d.dropoff_position_m,
                d.predicted_dropoff_at,
                p.dropoff_address,
                p.dropoff_contact_name,
                p.dropoff_contact_phone,
                False,
            )
        )
    return sorted(stops, key=lambda s: (s.position_m, s.kind != "pickup", s.delivery_id))


def cancellation_fee_now(*, parcel: Parcel, delivery: Delivery | None) -> int:
    """What the shipper would pay for cancelling now: the fee once the courier's trip is under
    way (capped at the price), nothing before; no cancelling after pickup."""
    if delivery is None or delivery.status != DeliveryStatus.ASSIGNED:
        return 0
    if delivery.trip.status != TripStatus.ACTIVE:
        return 0
    return min(settings.CANCELLATION_FEE, parcel.price_total)


def deliveries_on_trip(*, trip: Trip, statuses: list[str]) -> QuerySet[Delivery]:
    return Delivery.objects.filter(trip=trip, status__in=statuses)


def trip_loads(*, trip_ids: list[int]) -> list[tuple[int, int, int, int]]:
    """(trip, pickup position, drop-off position, weight) of what these trips carry or have
    room reserved for, along their routes."""
    rows = Delivery.objects.filter(trip_id__in=trip_ids, status__in=HOLDS_CAPACITY)
    return list(
        rows.order_by("pk").values_list(
            "trip_id", "pickup_position_m", "dropoff_position_m", "parcel__weight_grams"
        )
    )
