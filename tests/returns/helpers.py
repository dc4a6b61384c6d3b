"""Shared steps for the returns tests: a delivered parcel, and a trip that runs the way back."""

from __future__ import annotations

from typing import Any

from django.contrib.gis.geos import LineString

from marketplace.deliveries.models import Delivery
from marketplace.lifecycle import delivering
from marketplace.parcels.models import Parcel
from marketplace.trips.models import Trip
from tests.factories.matching import assigned, line_trip, parcel_near, route


def carry(delivery: Delivery, courier: Any) -> Delivery:
    delivering.delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    return delivering.delivery_start_transit(delivery=delivery, actor=courier)


def hand_over(delivery: Delivery, courier: Any) -> Delivery:
    carry(delivery, courier)
    return delivering.delivery_confirm_delivered(
        delivery=delivery, actor=courier, code=delivery.delivery_code
    )


def delivered_parcel(**fields: Any) -> tuple[Parcel, Delivery]:
    """A parcel carried east along the test route and delivered."""
    trip = line_trip()
    parcel = parcel_near(**fields)
    delivery = hand_over(assigned(parcel, trip.courier), trip.courier)
    parcel.refresh_from_db()
    return parcel, delivery


def westward_trip(**overrides: Any) -> Trip:
    """A trip along the test route the other way: it fits a return of `parcel_near` parcels."""
    east = route()
    return line_trip(route=LineString(list(reversed(east.coords)), srid=4326), **overrides)
