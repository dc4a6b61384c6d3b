"""A straight test route and parcels placed by metres along and across it, at any latitude.

The route runs east from `origin` for 10 km (vertices every 2.5 km). A bike (15 km/h) passes the
point `east_m` along it `east_m / 4.1667` seconds after departure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.gis.geos import LineString
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.lifecycle.posting import parcel_create, trip_create
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import Parcel
from marketplace.trips.models import Trip
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.geo import offset, pt

BERLIN = (13.30, 52.52)
ROUTE_M = 10_000
BIKE_MPS = 15 / 3.6


def base_time() -> datetime:
    """Departure of the test trips: an hour from now, on a whole minute."""
    return (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)


def passes_at(east_m: float) -> timedelta:
    return timedelta(seconds=east_m / BIKE_MPS)


def route(origin: tuple[float, float] = BERLIN, *, north_m: float = 0) -> LineString:
    start = offset(origin, north_m=north_m)
    return LineString([offset(start, east_m=e) for e in range(0, ROUTE_M + 1, 2_500)], srid=4326)


def line_trip(
    *,
    courier: User | None = None,
    origin: tuple[float, float] = BERLIN,
    north_m: float = 0,
    t0: datetime | None = None,
    departure_slack: timedelta = timedelta(minutes=30),
    **overrides: Any,
) -> Trip:
    t0 = t0 or base_time()
    fields: dict[str, Any] = {
        "route": route(origin, north_m=north_m),
        "route_source": "geojson",
        "departure_earliest": t0,
        "departure_latest": t0 + departure_slack,
    }
    fields.update(overrides)
    return trip_create(courier=courier or CourierFactory(), **fields)


def parcel_near(
    *,
    shipper: User | None = None,
    origin: tuple[float, float] = BERLIN,
    pickup: tuple[float, float] = (2_000, 500),
    dropoff: tuple[float, float] = (8_000, -500),
    t0: datetime | None = None,
    **overrides: Any,
) -> Parcel:
    """A parcel `pickup`/`dropoff` = (metres east along the route, metres north of it)."""
    t0 = t0 or base_time()
    fields: dict[str, Any] = {
        "description": "Test parcel",
        "size_class": "S",
        "weight_grams": 1_000,
        "declared_value": 1_000,
        "pickup_point": pt(offset(origin, east_m=pickup[0], north_m=pickup[1])),
        "pickup_address": "Pickup street 1",
        "pickup_contact_name": "Pia Pickup",
        "pickup_contact_phone": "+49 30 1",
        "pickup_window_start": t0,
        "pickup_window_end": t0 + timedelta(hours=3),
        "dropoff_point": pt(offset(origin, east_m=dropoff[0], north_m=dropoff[1])),
        "dropoff_address": "Dropoff street 2",
        "dropoff_contact_name": "Dora Dropoff",
        "dropoff_contact_phone": "+49 30 2",
        "delivery_window_start": t0,
        "delivery_window_end": t0 + timedelta(hours=6),
        "prohibited_items_declared": True,
    }
    fields.update(overrides)
    return parcel_create(shipper=shipper or ShipperFactory(), **fields)


def assigned(parcel: Parcel, courier: User):  # type: ignore[no-untyped-def]
    """Offer the parcel and have `courier` accept it; returns the delivery."""
    from marketplace.lifecycle.matching import offer_accept
    from marketplace.matching.models import Offer

    offers_make_for_parcel(parcel_id=parcel.pk)
    offer = Offer.objects.get(parcel=parcel, courier=courier)
    return offer_accept(offer_id=offer.pk, courier=courier)
