"""The engine against a brute-force oracle on random cities: same fits, both directions."""

import random
from datetime import timedelta

import pytest

from marketplace.accounts.models import CourierProfile
from marketplace.lifecycle.posting import parcel_create, trip_create
from marketplace.matching import engine
from marketplace.matching.oracle import Oracle, load_parcels, load_trips
from marketplace.parcels.models import Parcel
from marketplace.trips.models import Trip
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.geo import offset, pt
from tests.factories.matching import base_time

pytestmark = pytest.mark.django_db

VEHICLES = [("bike", "M", 10_000), ("car", "L", 100_000), ("cargo_bike", "L", 60_000)]


def _random_city(rng: random.Random, center, *, trips: int, parcels: int):
    t0 = base_time()
    shippers = [ShipperFactory() for _ in range(5)]
    for _ in range(trips):
        vehicle, size, weight = rng.choice(VEHICLES)
        courier = CourierFactory()
        CourierProfile.objects.filter(user=courier).update(
            vehicle_type=vehicle, max_size_class=size, max_weight_grams=weight, corridor_m=3_000
        )
        courier.refresh_from_db()
        start = offset(
            center, east_m=rng.uniform(-5_000, 5_000), north_m=rng.uniform(-5_000, 5_000)
        )
        points = [start]
        heading_e, heading_n = rng.uniform(-1, 1), rng.uniform(-1, 1)
        for _ in range(rng.randint(2, 12)):
            step = rng.uniform(400, 1_500)
            points.append(
                offset(
                    points[-1],
                    east_m=step * (heading_e + rng.uniform(-0.4, 0.4)),
                    north_m=step * (heading_n + rng.uniform(-0.4, 0.4)),
                )
            )
        from django.contrib.gis.geos import LineString

        departure = t0 + timedelta(minutes=rng.randint(0, 240))
        trip_create(
            courier=courier,
            route=LineString(points, srid=4326),
            route_source="geojson",
            departure_earliest=departure,
            departure_latest=departure + timedelta(minutes=rng.choice([0, 15, 45])),
            corridor_m=rng.choice([300, 800, 1_500, 3_000]),
            max_parcels=rng.randint(1, 4),
        )
    for _ in range(parcels):
        pickup = offset(
            center, east_m=rng.uniform(-6_000, 6_000), north_m=rng.uniform(-6_000, 6_000)
        )
        dropoff = offset(
            pickup, east_m=rng.uniform(-6_000, 6_000), north_m=rng.uniform(-6_000, 6_000)
        )
        start = t0 + timedelta(minutes=rng.randint(-30, 240))
        parcel_create(
            shipper=rng.choice(shippers),
            description="random",
            size_class=rng.choice(["S", "M", "L"]),
            weight_grams=rng.randint(100, 30_000),
            declared_value=0,
            prohibited_items_declared=True,
            pickup_point=pt(pickup),
            pickup_address="a",
            pickup_contact_name="a",
            pickup_contact_phone="1",
            pickup_window_start=start,
            pickup_window_end=start + timedelta(minutes=rng.choice([60, 120, 240])),
            dropoff_point=pt(dropoff),
            dropoff_address="b",
            dropoff_contact_name="b",
            dropoff_contact_phone="2",
            delivery_window_start=start + timedelta(minutes=rng.randint(0, 60)),
            delivery_window_end=start + timedelta(minutes=rng.choice([120, 240, 480])),
        )
    # Some trips already carry parcels: capacity must count what is left.
    for trip in Trip.objects.order_by("?")[: trips // 4]:
        Trip.objects.filter(pk=trip.pk).update(
            reserved_parcels=trip.max_parcels - 1, reserved_weight_grams=trip.max_weight_grams // 2
        )


@pytest.mark.parametrize(
    ("seed", "center"),
    [(1, (13.40, 52.52)), (2, (151.21, -33.87)), (3, (-43.20, -22.90)), (4, (10.75, 59.91))],
)
def test_engine_equals_brute_force_oracle(seed, center):
    rng = random.Random(seed)
    _random_city(rng, center, trips=40, parcels=80)
    trips = list(Trip.objects.select_related("courier__courier_profile"))
    parcels = list(Parcel.objects.all())
    oracle = Oracle(load_trips(trips), center=center)
    expected: dict[int, set[int]] = {}
    unsure: dict[int, set[int]] = {}
    total_fits = 0
    for parcel_data, parcel in zip(load_parcels(parcels), parcels, strict=True):
        fits, borderline = oracle.check(parcel_data)
        expected[parcel.pk], unsure[parcel.pk] = fits, borderline
        got = {f.trip_id for f in engine.trips_for_parcel(parcel, limit=10_000)}
        assert got - borderline == fits, f"parcel {parcel.pk}: engine {got}, oracle {fits}"
        total_fits += len(fits)
    for trip in trips:
        got = {f.parcel_id for f in engine.parcels_for_trip(trip, limit=10_000)}
        want = {pid for pid, ids in expected.items() if trip.pk in ids}
        unclear = {pid for pid, ids in unsure.items() if trip.pk in ids}
        assert got - unclear == want, f"trip {trip.pk}: engine {got}, oracle {want}"
    # The random city must exercise the engine: some pairs fit, most do not.
    assert 5 <= total_fits < len(parcels) * len(trips) / 4
