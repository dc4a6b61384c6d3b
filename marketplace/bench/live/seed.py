"""Deliveries on their way, created through the services as the app creates them, for the live
benchmark (`bench_live`): per delivery a shipper, a verified bike courier whose 10 km trip runs
east, a parcel along it, the offer accepted, the pickup confirmed and the transit started.

Each pair gets its own patch of the map (3 km apart north-south, 15 km east-west), so a parcel
is offered to its own courier only; each run puts its grid somewhere else on Earth, so the trips
of earlier runs in the same scratch database never compete for its parcels (nothing is wiped).
Seeding stands in for the payment (PAYMENTS_REQUIRED off), uses a fast password hasher and keeps
emails in memory: the benchmark logs in with JWTs and measures the live path. The app's INFO logs
(tasks, pushes) are held back while seeding.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.gis.geos import LineString, Point
from django.test import override_settings
from django.utils import timezone

from marketplace.accounts.models import User, VerificationStatus
from marketplace.accounts.services import courier_set_verification, user_register
from marketplace.bench.quiet import loggers_quiet
from marketplace.core.geo import EARTH_RADIUS_M
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle.delivering import delivery_confirm_pickup, delivery_start_transit
from marketplace.lifecycle.matching import offer_accept
from marketplace.lifecycle.posting import parcel_create, trip_create
from marketplace.matching.models import Offer
from marketplace.matching.services import offers_make_for_parcel

ROUTE_M = 10_000
PICKUP_EAST_M = 2_000
DROPOFF_EAST_M = 8_000
ROWS_APART_M = 3_000
COLUMNS_APART_M = 15_000
COLUMNS = 10
PASSWORD = "bench-Live-walk-42"


def offset(
    lonlat: tuple[float, float], *, north_m: float = 0, east_m: float = 0
) -> tuple[float, float]:
    lon, lat = lonlat
    metres_per_degree = EARTH_RADIUS_M * math.pi / 180
    return (
        lon + east_m / (metres_per_degree * math.cos(math.radians(lat))),
        lat + north_m / metres_per_degree,
    )


@dataclass(frozen=True)
class LiveDelivery:
    delivery_id: int
    shipper: User
    courier: User
    start: tuple[float, float]  # the route's west end (lon, lat); it runs east for ROUTE_M

    def along(self, east_m: float) -> tuple[float, float]:
        """The point `east_m` along the route (lon, lat)."""
        return offset(self.start, east_m=east_m)


def _point(lonlat: tuple[float, float]) -> Point:
    return Point(*lonlat, srid=4326)


def _one(index: int, *, admin: User, tag: str, origin: tuple[float, float]) -> LiveDelivery:
    row, column = divmod(index, COLUMNS)
    start = offset(origin, north_m=row * ROWS_APART_M, east_m=column * COLUMNS_APART_M)
    shipper = user_register(
        email=f"shipper{index}-{tag}@bench-live.invalid",
        password=PASSWORD,
        full_name=f"Shipper {index}",
    )
    courier = user_register(
        email=f"courier{index}-{tag}@bench-live.invalid",
        password=PASSWORD,
        full_name=f"Courier {index}",
        is_shipper=False,
        is_courier=True,
        vehicle_type="bike",
    )
    courier_set_verification(
        profile=courier.courier_profile, status=VerificationStatus.VERIFIED, admin=admin
    )
    courier = User.objects.get(pk=courier.pk)  # with the verified profile
    t0 = (timezone.now() + timedelta(minutes=30)).replace(second=0, microsecond=0)
    trip_create(
        courier=courier,
        route=LineString(
            [offset(start, east_m=e) for e in range(0, ROUTE_M + 1, 2_500)], srid=4326
        ),
        route_source="geojson",
        departure_earliest=t0,
        departure_latest=t0 + timedelta(minutes=30),
    )
    parcel = parcel_create(
        shipper=shipper,
        description=f"Bench parcel {index}",
        size_class="S",
        weight_grams=1_000,
        declared_value=1_000,
        prohibited_items_declared=True,
        pickup_point=_point(offset(start, east_m=PICKUP_EAST_M, north_m=300)),
        pickup_address="Pickup street 1",
        pickup_contact_name="Pia Pickup",
        pickup_contact_phone="+49 30 1",
        pickup_window_start=t0,
        pickup_window_end=t0 + timedelta(hours=3),
        dropoff_point=_point(offset(start, east_m=DROPOFF_EAST_M, north_m=-300)),
        dropoff_address="Dropoff street 2",
        dropoff_contact_name="Dora Dropoff",
        dropoff_contact_phone="+49 30 2",
        delivery_window_start=t0,
        delivery_window_end=t0 + timedelta(hours=6),
    )
    offers_make_for_parcel(parcel_id=parcel.pk)
    offer = Offer.objects.get(parcel=parcel, courier=courier)
    delivery = offer_accept(offer_id=offer.pk, courier=courier)
    delivery = Delivery.objects.get(pk=delivery.pk)
    delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    delivery_start_transit(delivery=delivery, actor=courier)
    return LiveDelivery(delivery_id=delivery.pk, shipper=shipper, courier=courier, start=start)


def deliveries_in_transit(count: int) -> list[LiveDelivery]:
    """`count` deliveries in transit, each with its own shipper and courier."""
    tag = uuid.uuid4().hex[:8]
    # The grid's south-west corner (lon, lat): anywhere away from the poles and the date line.
    pick = random.Random(tag)
    origin = (pick.uniform(-120, 120), pick.uniform(-45, 55))
    with loggers_quiet("celery", "marketplace"):
        return _seed(count, tag=tag, origin=origin)


def _seed(count: int, *, tag: str, origin: tuple[float, float]) -> list[LiveDelivery]:
    with override_settings(
        PAYMENTS_REQUIRED=False,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    ):
        admin = User.objects.create_superuser(
            email=f"admin-{tag}@bench-live.invalid", password=PASSWORD, full_name="Bench admin"
        )
        return [_one(index, admin=admin, tag=tag, origin=origin) for index in range(count)]
