from datetime import timedelta

import pytest
from django.contrib.gis.geos import LineString
from django.utils import timezone

from marketplace.core.exceptions import ApplicationError
from marketplace.core.state_machine import TransitionNotAllowed
from marketplace.lifecycle.cancelling import trip_cancel
from marketplace.lifecycle.delivering import trip_start
from marketplace.lifecycle.posting import trip_create
from marketplace.trips.models import TRIP_TRANSITIONS, Trip, TripStatus
from marketplace.trips.services import trip_transition
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG, KREUZBERG, offset, pt
from tests.factories.trips import make_trip

pytestmark = pytest.mark.django_db


def test_trip_with_route_keeps_it_and_measures_it(courier):
    trip = make_trip(courier=courier)
    assert trip.route_source == "geojson"
    assert not trip.is_straight_route
    assert trip.origin.coords == pytest.approx(ALEXANDERPLATZ)
    assert trip.destination.coords == pytest.approx(CHARLOTTENBURG)
    assert 7_000 < trip.route_length_m < 9_000
    assert trip.arrival_latest > trip.departure_latest
    # Capacity and corridor default to the courier's vehicle (bike).
    assert (trip.max_size_class, trip.max_weight_grams, trip.corridor_m) == ("M", 10_000, 1_000)
    assert trip.events.get().to_status == TripStatus.PLANNED


def test_without_route_a_straight_line_is_stored_and_flagged(courier):
    trip = make_trip(
        courier=courier,
        route=None,
        route_source=None,
        origin=pt(KREUZBERG),
        destination=pt(CHARLOTTENBURG),
    )
    assert trip.route_source == "straight" and trip.is_straight_route
    assert trip.route.coords == (pytest.approx(KREUZBERG), pytest.approx(CHARLOTTENBURG))
    trip.refresh_from_db()
    assert trip.route_merc.srid == 3857 and trip.route_merc.num_points == 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"max_size_class": "XL"}, "max_size_class"),
        ({"max_weight_grams": 50_000}, "max_weight_grams"),
        ({"max_parcels": 0}, "max_parcels"),
        ({"corridor_m": 10}, "corridor_m"),
        ({"origin": pt(offset(ALEXANDERPLATZ, north_m=5_000))}, "origin"),
        (
            {
                "departure_earliest": timezone.now() + timedelta(hours=3),
                "departure_latest": timezone.now() + timedelta(hours=2),
            },
            "departure_latest",
        ),
        (
            {
                "departure_earliest": timezone.now() - timedelta(hours=3),
                "departure_latest": timezone.now() - timedelta(hours=2),
            },
            "departure_latest",
        ),
        (
            {"arrival_latest": timezone.now()},
            "arrival_latest",
        ),
        (
            {"route": LineString([(0, 0), (5, 0)], srid=4326)},  # ~556 km
            "route",
        ),
    ],
)
def test_invalid_trips_name_the_field_and_store_nothing(courier, overrides, field):
    with pytest.raises(ApplicationError) as excinfo:
        make_trip(courier=courier, **overrides)
    assert field in excinfo.value.fields
    assert Trip.objects.count() == 0


def test_only_couriers_post_trips():
    with pytest.raises(ApplicationError, match="Only couriers"):
        make_trip(courier=ShipperFactory())
    assert Trip.objects.count() == 0


def test_missing_route_and_endpoints_is_refused(courier):
    with pytest.raises(ApplicationError):
        trip_create(courier=courier, departure_earliest=timezone.now() + timedelta(hours=1))
    assert Trip.objects.count() == 0


@pytest.mark.parametrize(
    ("current", "target"),
    [(a, b) for a in TripStatus.values for b in TripStatus.values],
)
def test_trip_transition_table(courier, current, target):
    trip = make_trip(courier=courier)
    Trip.objects.filter(pk=trip.pk).update(status=current)
    if target in TRIP_TRANSITIONS[current]:
        assert trip_transition(trip=trip, to_status=target, actor=courier).status == target
        assert trip.events.last().from_status == current
    else:
        with pytest.raises(TransitionNotAllowed):
            trip_transition(trip=trip, to_status=target, actor=courier)
        trip.refresh_from_db()
        assert trip.status == current
        assert trip.events.count() == 1


def test_another_courier_cannot_move_my_trip(courier):
    trip = make_trip(courier=courier)
    with pytest.raises(ApplicationError, match="not your trip"):
        trip_start(trip=trip, actor=CourierFactory())
    trip.refresh_from_db()
    assert trip.status == TripStatus.PLANNED


def test_cancel_records_reason(courier):
    trip = trip_cancel(trip=make_trip(courier=courier), actor=courier, reason="car broke down")
    assert trip.status == TripStatus.CANCELLED
    assert trip.events.last().note == "Cancelled: car broke down"
