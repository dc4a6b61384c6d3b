"""Every matching rule at its edge, in both directions, at several latitudes."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.gis.geos import LineString
from django.db import connection
from django.db.models import F

from marketplace.accounts.models import CourierProfile, VerificationStatus
from marketplace.lifecycle.cancelling import trip_cancel
from marketplace.matching import engine
from marketplace.trips.models import Trip
from tests.factories.accounts import CourierFactory, UserFactory
from tests.factories.geo import offset
from tests.factories.matching import BERLIN, base_time, line_trip, parcel_near, passes_at

pytestmark = pytest.mark.django_db

CITIES = {
    "berlin": BERLIN,
    "sydney": (151.21, -33.87),
    "helsinki": (24.94, 60.17),
    "quito": (-78.47, -0.18),
    "ushuaia": (-68.30, -54.80),
}


def trip_ids(parcel) -> list[int]:
    return [f.trip_id for f in engine.trips_for_parcel(parcel)]


def parcel_ids(trip) -> list[int]:
    trip.refresh_from_db()
    return [f.parcel_id for f in engine.parcels_for_trip(trip)]


def assert_fit(trip, parcel, expected: bool) -> None:
    assert (trip.pk in trip_ids(parcel)) is expected
    assert (parcel.pk in parcel_ids(trip)) is expected


@pytest.mark.parametrize("city", CITIES)
@pytest.mark.parametrize(
    ("pickup_north", "dropoff_north", "fits"),
    [(990, -990, True), (1_010, 0, False), (0, -1_010, False), (-990, 990, True)],
)
def test_corridor_edge_at_any_latitude(city, pickup_north, dropoff_north, fits):
    origin = CITIES[city]
    trip = line_trip(origin=origin)  # bike: corridor 1 000 m
    parcel = parcel_near(
        origin=origin, pickup=(2_000, pickup_north), dropoff=(8_000, dropoff_north)
    )
    assert_fit(trip, parcel, fits)


def test_courier_set_corridor_is_used():
    trip = line_trip(corridor_m=300)
    assert_fit(trip, parcel_near(pickup=(2_000, 290), dropoff=(8_000, 0)), True)
    assert_fit(trip, parcel_near(pickup=(2_000, 310), dropoff=(8_000, 0)), False)


def test_pickup_must_come_before_dropoff_along_the_route():
    trip = line_trip()
    assert_fit(trip, parcel_near(pickup=(8_000, 0), dropoff=(2_000, 0)), False)
    assert_fit(trip, parcel_near(pickup=(4_000, 0), dropoff=(4_100, 0)), True)


@pytest.mark.parametrize(
    ("window", "fits"),
    [
        # The bike passes the pickup (2 km) 8 min after leaving; it may leave t0..t0+30 min.
        ({"pickup_window_end": "t0+8m+10s"}, True),
        ({"pickup_window_end": "t0+8m-10s"}, False),
        ({"pickup_window_start": "t0+38m-10s", "pickup_window_end": "t0+3h"}, True),
        ({"pickup_window_start": "t0+38m+10s", "pickup_window_end": "t0+3h"}, False),
        # It passes the drop-off (8 km) 32 min after leaving.
        ({"delivery_window_end": "t0+32m+10s"}, True),
        ({"delivery_window_end": "t0+32m-10s"}, False),
        ({"delivery_window_start": "t0+62m-10s", "delivery_window_end": "t0+5h"}, True),
        ({"delivery_window_start": "t0+62m+10s", "delivery_window_end": "t0+5h"}, False),
        # Each window alone is reachable, both at once are not.
        (
            {
                "pickup_window_start": "t0+28m",
                "pickup_window_end": "t0+3h",
                "delivery_window_start": "t0",
                "delivery_window_end": "t0+51m",
            },
            False,
        ),
    ],
)
def test_time_windows_edges(window, fits):
    t0 = base_time()
    times = {}
    for name, expr in window.items():
        at = t0
        for part in expr.replace("t0", "").replace("-", "+-").split("+"):
            if part:
                sign = -1 if part.startswith("-") else 1
                part = part.lstrip("-")
                unit = {"h": "hours", "m": "minutes", "s": "seconds"}[part[-1]]
                at += sign * timedelta(**{unit: int(part[:-1])})
        times[name] = at
    trip = line_trip(t0=t0)
    parcel = parcel_near(t0=t0, **times)
    assert_fit(trip, parcel, fits)


def test_predicted_times_follow_position_and_speed():
    t0 = base_time()
    trip = line_trip(t0=t0)
    parcel = parcel_near(t0=t0)
    (fit,) = engine.trips_for_parcel(parcel)
    # Metres on the spheroid; the test grid is laid out on a sphere (0.3 % apart along a parallel
    # at this latitude).
    assert fit.pickup_position_m == pytest.approx(2_000, rel=0.005)
    assert fit.dropoff_position_m == pytest.approx(8_000, rel=0.005)
    pickup_after = (fit.predicted_pickup_at - t0).total_seconds()
    dropoff_after = (fit.predicted_dropoff_at - t0).total_seconds()
    assert pickup_after == pytest.approx(
        fit.pickup_position_m / (15 / 3.6), abs=0.2
    )  # positions are whole metres
    assert dropoff_after == pytest.approx(
        fit.dropoff_position_m / (15 / 3.6), abs=0.2
    )  # positions are whole metres
    assert pickup_after == pytest.approx(passes_at(2_000).total_seconds(), rel=0.005)
    assert fit.detour_m == pytest.approx(2 * (500 + 500), abs=3)
    assert trip.pk == fit.trip_id


def test_capacity_size_weight_and_count():
    trip = line_trip()  # bike: up to M, 10 kg, 3 parcels
    assert_fit(trip, parcel_near(size_class="L"), False)
    assert_fit(trip, parcel_near(weight_grams=10_001), False)
    assert_fit(trip, parcel_near(weight_grams=10_000), True)
    Trip.objects.filter(pk=trip.pk).update(reserved_weight_grams=9_500)
    assert_fit(trip, parcel_near(weight_grams=600), False)
    assert_fit(trip, parcel_near(weight_grams=500), True)
    Trip.objects.filter(pk=trip.pk).update(
        reserved_weight_grams=0, reserved_parcels=F("max_parcels")
    )
    assert_fit(trip, parcel_near(), False)


def test_unverified_courier_gets_nothing():
    courier = CourierFactory()
    CourierProfile.objects.filter(user=courier).update(
        verification_status=VerificationStatus.PENDING
    )
    trip = line_trip(courier=courier)
    assert_fit(trip, parcel_near(), False)


def test_courier_is_never_matched_with_their_own_parcel():
    both = UserFactory(is_shipper=True, is_courier=True)
    from tests.factories.accounts import CourierProfileFactory

    CourierProfileFactory(user=both)
    trip = line_trip(courier=both)
    assert_fit(trip, parcel_near(shipper=both), False)
    assert_fit(trip, parcel_near(), True)


def test_cancelled_trips_do_not_match():
    trip = line_trip()
    parcel = parcel_near()
    assert_fit(trip, parcel, True)
    trip_cancel(trip=trip, actor=trip.courier)
    assert trip_ids(parcel) == []
    assert parcel_ids(trip) == []


def test_only_open_parcels_match():
    trip = line_trip()
    draft = parcel_near(publish=False)
    published = parcel_near()
    assert trip_ids(draft) == []
    assert parcel_ids(trip) == [published.pk]


def test_ranking_by_detour_then_arrival():
    t0 = base_time()
    near_early = line_trip(north_m=200, t0=t0)
    far = line_trip(north_m=-600, t0=t0 - timedelta(minutes=20))
    near_late = line_trip(north_m=200, t0=t0 + timedelta(minutes=20))
    parcel = parcel_near(pickup=(2_000, 0), dropoff=(8_000, 0), t0=t0)
    fits = engine.trips_for_parcel(parcel)
    assert [f.trip_id for f in fits] == [near_early.pk, near_late.pk, far.pk]
    assert fits[0].detour_m == pytest.approx(800, abs=3)
    assert fits[2].detour_m == pytest.approx(2_400, abs=3)
    assert fits[0].predicted_dropoff_at < fits[1].predicted_dropoff_at


def test_trip_to_parcels_ranks_the_same_way():
    trip = line_trip()
    close = parcel_near(pickup=(2_000, 100), dropoff=(8_000, 100))
    far = parcel_near(pickup=(2_000, 900), dropoff=(8_000, -900))
    middle = parcel_near(pickup=(3_000, 400), dropoff=(9_000, 400))
    assert parcel_ids(trip) == [close.pk, middle.pk, far.pk]


def _head_of_full_ranking(rank, count: int) -> None:
    full = rank(1_000)
    assert len(full) == count
    for limit in range(1, count + 1):
        assert rank(limit) == full[:limit], f"limit {limit}"


def test_a_limit_cuts_the_full_ranking_with_ties_at_the_edge():
    # given seven trips whose detours for the parcel are 0, 0, 0 (three equal trips: a tie the
    # engine breaks by drop-off time, then trip id), 600, 1 200, 1 800 and 2 400 m
    t0 = base_time()
    for north_m in (0, 0, 0, 150, 300, 450, 600):
        line_trip(north_m=north_m, t0=t0)
    parcel = parcel_near(pickup=(2_000, 0), dropoff=(8_000, 0), t0=t0)
    # then every limit returns the head of the full ranking: the engine checks the times of the
    # pairs with the smallest detours first and must not let a tie at the edge cut it wrongly
    _head_of_full_ranking(
        lambda limit: [f.trip_id for f in engine.trips_for_parcel(parcel, limit=limit)], 7
    )


def test_a_limit_cuts_the_full_ranking_of_parcels_too():
    trip = line_trip()
    for north_m in (100, 100, 250, 400, 400, 700):
        parcel_near(pickup=(2_000, north_m), dropoff=(8_000, north_m))
    trip.refresh_from_db()
    _head_of_full_ranking(
        lambda limit: [f.parcel_id for f in engine.parcels_for_trip(trip, limit=limit)], 6
    )


@pytest.mark.parametrize("origin", [BERLIN, (25.0, 70.0), (-68.30, -62.0), (-78.47, -0.18)])
def test_positions_are_spheroid_metres_even_on_one_long_step(origin):
    # given a route of one 24 km diagonal step (the engine reads positions from a measured route,
    # cut into short steps) and a parcel near it at a third and at two thirds
    end = offset(origin, east_m=18_000, north_m=16_000)
    trip = line_trip(origin=origin, route=LineString([origin, end], srid=4326))
    parcel = parcel_near(origin=origin, pickup=(6_000, 5_900), dropoff=(12_000, 10_000))

    # when
    (fit,) = engine.trips_for_parcel(parcel)

    # then the positions are the route's length on the spheroid up to the nearest points
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Length(ST_Transform(ST_LineSubstring(t.route_merc, 0,"
            " ST_LineLocatePoint(t.route_merc, p.pickup_merc)), 4326)::geography),"
            " ST_Length(ST_Transform(ST_LineSubstring(t.route_merc, 0,"
            " ST_LineLocatePoint(t.route_merc, p.dropoff_merc)), 4326)::geography)"
            " FROM trips_trip t, parcels_parcel p WHERE t.id = %s AND p.id = %s",
            [trip.pk, parcel.pk],
        )
        pickup_m, dropoff_m = cursor.fetchone()
    assert abs(fit.pickup_position_m - pickup_m) <= 0.51  # positions are whole metres
    assert abs(fit.dropoff_position_m - dropoff_m) <= 0.51
    assert [f.parcel_id for f in engine.parcels_for_trip(trip)] == [parcel.pk]


def test_a_courier_already_past_the_pickup_is_not_a_fit():
    # The bike departs between t0 and t0 + 30 min and passes the pickup (2 km along) 8 min later.
    t0 = base_time()
    trip = line_trip(t0=t0)
    parcel = parcel_near(t0=t0, pickup_window_start=t0, pickup_window_end=t0 + timedelta(hours=3))
    with time_machine.travel(t0 + timedelta(minutes=20), tick=False):
        (fit,) = engine.trips_for_parcel(parcel)
        # Only the departures that still reach the pickup from now on count.
        assert fit.predicted_pickup_at == t0 + timedelta(minutes=20)
        assert_fit(trip, parcel, True)
    with time_machine.travel(t0 + timedelta(minutes=30) + passes_at(2_000) + timedelta(seconds=5)):
        assert_fit(trip, parcel, False)
