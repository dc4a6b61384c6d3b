"""A delivery on the straight 10 km test route (tests.factories.matching) and pings placed by
metres east along that route and north of it.

parcel_near's defaults put the pickup 2 km along the route (500 m north of it) and the drop-off
8 km along (500 m south); the bike trip goes 15 km/h. Pickups are dated back an hour so that
pings may carry device times from the last minutes, as an app sends them after losing signal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from marketplace.deliveries.models import Delivery
from marketplace.lifecycle.delivering import (
    delivery_confirm_delivered,
    delivery_confirm_pickup,
    delivery_fail,
    delivery_start_transit,
)
from tests.factories.geo import offset
from tests.factories.matching import BERLIN, assigned, line_trip, parcel_near

DROPOFF = (8_000, -500)  # metres east along the route, metres north of it
BIKE_KMH = 15


def new_delivery(**parcel_overrides: Any) -> Delivery:
    """A parcel accepted by a courier whose trip runs along the test route: `assigned`."""
    trip = line_trip()
    return assigned(parcel_near(**parcel_overrides), trip.courier)


def fresh(delivery: Delivery) -> Delivery:
    return Delivery.objects.select_related("parcel", "trip", "courier").get(pk=delivery.pk)


def pick_up(delivery: Delivery, *, ago: timedelta = timedelta(hours=1)) -> Delivery:
    delivery = fresh(delivery)
    delivery_confirm_pickup(delivery=delivery, actor=delivery.courier, code=delivery.pickup_code)
    # The pickup happened `ago`: pings may then carry device times since then.
    Delivery.objects.filter(pk=delivery.pk).update(picked_up_at=timezone.now() - ago)
    return fresh(delivery)


def start(delivery: Delivery) -> Delivery:
    delivery_start_transit(delivery=delivery, actor=delivery.courier)
    return fresh(delivery)


def deliver(delivery: Delivery) -> Delivery:
    delivery = fresh(delivery)
    delivery_confirm_delivered(
        delivery=delivery, actor=delivery.courier, code=delivery.delivery_code
    )
    return fresh(delivery)


def fail(delivery: Delivery) -> Delivery:
    delivery_fail(delivery=delivery, actor=delivery.courier, reason="Nobody at home")
    return fresh(delivery)


def lonlat(east_m: float, north_m: float = 0) -> tuple[float, float]:
    return offset(BERLIN, east_m=east_m, north_m=north_m)


def ping(
    east_m: float,
    north_m: float = 0,
    *,
    at: datetime | None = None,
    accuracy_m: float = 10.0,
    **extra: Any,
) -> dict[str, Any]:
    """A ping as the courier's app sends it."""
    lon, lat = lonlat(east_m, north_m)
    at = at or timezone.now()
    return {"lat": lat, "lon": lon, "accuracy_m": accuracy_m, "at": at.isoformat(), **extra}


def minutes_ago(minutes: float) -> datetime:
    return timezone.now() - timedelta(minutes=minutes)
