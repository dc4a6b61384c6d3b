"""A courier's trips: the route as GeoJSON, encoded polyline or straight line; status moves."""

from datetime import timedelta

import polyline
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.lifecycle.cancelling import trip_cancel
from marketplace.lifecycle.delivering import trip_complete, trip_start
from marketplace.trips.models import Trip, TripEvent, TripStatus
from tests.api.payloads import assert_error, commute_coordinates, trip_payload
from tests.factories.accounts import CourierFactory
from tests.factories.geo import (
    ALEXANDERPLATZ,
    CHARLOTTENBURG,
    KREUZBERG,
    POTSDAMER_PLATZ,
    geojson_point,
)
from tests.factories.trips import make_trip

pytestmark = pytest.mark.django_db

TRIPS = "/api/v1/trips/"


def detail(trip: Trip, action: str = "") -> str:
    return f"{TRIPS}{trip.pk}/" + (f"{action}/" if action else "")


def snapshot(trip: Trip) -> dict:
    fresh = Trip.objects.get(pk=trip.pk)
    row = {f.attname: getattr(fresh, f.attname) for f in Trip._meta.concrete_fields}
    row["route"] = fresh.route.coords
    row["events"] = list(fresh.events.values_list("from_status", "to_status"))
    return row


def without_route(**overrides):
    body = trip_payload(**overrides)
    del body["route"]
    return body


def in_hours(hours: float) -> str:
    return (timezone.now() + timedelta(hours=hours)).isoformat()


BAD_TRIP_IDS = [
    "no-route-no-ends",
    "origin-only",
    "destination-only",
    "polyline-garbage",
    "polyline-truncated",
    "polyline-empty",
    "polyline-one-position",
    "polyline-lat-95",
    "route-and-polyline",
    "route-is-a-point",
    "route-one-position",
    "route-same-positions",
    "route-lon-200",
    "route-garbage-string",
    "origin-lat-91",
    "origin-far-from-route",
    "polyline-precision-7",
    "departure-reversed",
    "departure-passed",
    "departure-beyond-60-days",
    "arrival-before-departure",
    "weight-above-vehicle",
    "size-above-vehicle",
    "unknown-size",
    "zero-parcels",
    "51-parcels",
    "corridor-too-wide",
    "departure-not-a-date",
]


def test_create_with_a_geojson_route(courier_client, courier):
    # when
    response = courier_client.post(TRIPS, trip_payload(origin_label="Home"), format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "planned"
    assert body["route_source"] == "geojson"
    assert body["is_straight_route"] is False
    assert body["route"] == {"type": "LineString", "coordinates": commute_coordinates()}
    # without origin and destination, the route's ends are used
    assert body["origin"] == geojson_point(ALEXANDERPLATZ)
    assert body["destination"] == geojson_point(CHARLOTTENBURG)
    assert body["origin_label"] == "Home"
    # the capacity defaults to the courier's vehicle
    assert body["vehicle_type"] == "bike"
    assert (body["max_size_class"], body["max_weight_grams"], body["corridor_m"]) == (
        "M",
        10_000,
        1_000,
    )
    assert body["max_parcels"] == 3
    assert 7_000 < body["route_length_m"] < 10_000
    assert body["arrival_latest"] > body["departure_latest"]

    trip = Trip.objects.get(pk=body["id"])
    assert trip.courier == courier
    assert trip.route.num_points == 3
    assert list(trip.events.values_list("from_status", "to_status")) == [("", "planned")]


def test_create_with_an_encoded_polyline(courier_client):
    # given
    latlons = [(lat, lon) for lon, lat in commute_coordinates()]
    encoded = polyline.encode(latlons)

    # when
    response = courier_client.post(TRIPS, without_route(route_polyline=encoded), format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["route_source"] == "polyline"
    assert body["is_straight_route"] is False
    coordinates = body["route"]["coordinates"]
    assert len(coordinates) == 3
    # GeoJSON order: longitude first
    for (lon, lat), (expected_lon, expected_lat) in zip(
        coordinates, commute_coordinates(), strict=True
    ):
        assert lon == pytest.approx(expected_lon, abs=1e-5)
        assert lat == pytest.approx(expected_lat, abs=1e-5)
    trip = Trip.objects.get(pk=body["id"])
    assert trip.route_source == "polyline"
    assert trip.origin.x == pytest.approx(ALEXANDERPLATZ[0], abs=1e-5)
    assert trip.origin.y == pytest.approx(ALEXANDERPLATZ[1], abs=1e-5)


def test_create_with_a_precision_6_polyline(courier_client):
    # given
    encoded = polyline.encode([(52.521912, 13.413215), (52.516334, 13.304311)], 6)

    # when
    response = courier_client.post(
        TRIPS, without_route(route_polyline=encoded, polyline_precision=6), format="json"
    )

    # then
    assert response.status_code == 201, response.content
    start, end = response.json()["route"]["coordinates"]
    assert start == pytest.approx([13.413215, 52.521912], abs=1e-6)
    assert end == pytest.approx([13.304311, 52.516334], abs=1e-6)


def test_create_without_a_route_stores_a_straight_line(courier_client):
    # when
    response = courier_client.post(
        TRIPS,
        without_route(origin=geojson_point(ALEXANDERPLATZ), destination=geojson_point(KREUZBERG)),
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["route_source"] == "straight"
    assert body["is_straight_route"] is True
    assert body["route"]["coordinates"] == [list(ALEXANDERPLATZ), list(KREUZBERG)]
    assert Trip.objects.get(pk=body["id"]).route.num_points == 2


def test_create_with_a_route_and_an_origin_near_its_start(courier_client):
    # when
    response = courier_client.post(
        TRIPS,
        trip_payload(
            origin=geojson_point(ALEXANDERPLATZ), destination=geojson_point(CHARLOTTENBURG)
        ),
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    assert response.json()["route_source"] == "geojson"


def test_create_with_lower_capacity_than_the_vehicle(courier_client):
    # when
    response = courier_client.post(
        TRIPS,
        trip_payload(max_size_class="S", max_weight_grams=3_000, max_parcels=1, corridor_m=400),
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    trip = Trip.objects.get(pk=response.json()["id"])
    assert (trip.max_size_class, trip.max_weight_grams, trip.max_parcels, trip.corridor_m) == (
        "S",
        3_000,
        1,
        400,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (without_route, "route"),
        (lambda: without_route(origin=geojson_point(ALEXANDERPLATZ)), "route"),
        (lambda: without_route(destination=geojson_point(KREUZBERG)), "route"),
        (lambda: without_route(route_polyline="!!!"), "route_polyline"),
        (lambda: without_route(route_polyline="_p~iF"), "route_polyline"),
        (lambda: without_route(route_polyline=""), "route_polyline"),
        # one position only
        (lambda: without_route(route_polyline=polyline.encode([(52.52, 13.41)])), "route_polyline"),
        # decodes to a latitude beyond 90
        (
            lambda: without_route(route_polyline=polyline.encode([(95, 13), (96, 13)])),
            "route_polyline",
        ),
        (
            lambda: trip_payload(route_polyline=polyline.encode([(52.52, 13.41), (52.51, 13.30)])),
            "route_polyline",
        ),
        (lambda: trip_payload(route={"type": "Point", "coordinates": [13.4, 52.5]}), "route"),
        (
            lambda: trip_payload(route={"type": "LineString", "coordinates": [[13.4, 52.5]]}),
            "route",
        ),
        (
            lambda: trip_payload(
                route={"type": "LineString", "coordinates": [[13.4, 52.5], [13.4, 52.5]]}
            ),
            "route",
        ),
        (
            lambda: trip_payload(
                route={"type": "LineString", "coordinates": [[13.4, 52.5], [200, 52.5]]}
            ),
            "route",
        ),
        (lambda: trip_payload(route="garbage"), "route"),
        (lambda: trip_payload(origin={"type": "Point", "coordinates": [13.4, 91]}), "origin"),
        # an origin 2.5 km away from the start of the route
        (lambda: trip_payload(origin=geojson_point(KREUZBERG)), "origin"),
        (lambda: trip_payload(polyline_precision=7), "polyline_precision"),
        (
            lambda: trip_payload(departure_earliest=in_hours(3), departure_latest=in_hours(2)),
            "departure_latest",
        ),
        (
            lambda: trip_payload(departure_earliest=in_hours(-5), departure_latest=in_hours(-4)),
            "departure_latest",
        ),
        (
            lambda: trip_payload(departure_earliest=in_hours(24 * 61), departure_latest=None),
            "departure_earliest",
        ),
        (lambda: trip_payload(arrival_latest=in_hours(0.5)), "arrival_latest"),
        (lambda: trip_payload(max_weight_grams=10_001), "max_weight_grams"),
        (lambda: trip_payload(max_size_class="L"), "max_size_class"),
        (lambda: trip_payload(max_size_class="XXL"), "max_size_class"),
        (lambda: trip_payload(max_parcels=0), "max_parcels"),
        (lambda: trip_payload(max_parcels=51), "max_parcels"),
        (lambda: trip_payload(corridor_m=20_001), "corridor_m"),
        (lambda: trip_payload(departure_earliest="soon"), "departure_earliest"),
    ],
    ids=BAD_TRIP_IDS,
)
def test_bad_trip_input_is_400_naming_the_field_and_stores_nothing(courier_client, body, field):
    # given
    payload = {k: v for k, v in body().items() if v is not None}
    trips_before, events_before = Trip.objects.count(), TripEvent.objects.count()

    # when
    response = courier_client.post(TRIPS, payload, format="json")

    # then
    error = assert_error(response, 400, code="invalid")
    assert field in error["fields"], error
    assert Trip.objects.count() == trips_before
    assert TripEvent.objects.count() == events_before


def test_route_and_polyline_together_are_refused_with_a_clear_message(courier_client):
    # when
    response = courier_client.post(
        TRIPS,
        trip_payload(route_polyline=polyline.encode([(52.52, 13.41), (52.51, 13.30)])),
        format="json",
    )

    # then
    error = assert_error(response, 400, code="invalid")
    assert "not both" in error["fields"]["route_polyline"][0]
    assert not Trip.objects.exists()


def test_capacity_above_the_vehicle_says_what_the_vehicle_takes(courier_client):
    # when
    response = courier_client.post(
        TRIPS, trip_payload(max_weight_grams=50_000, max_size_class="XL"), format="json"
    )

    # then
    error = assert_error(response, 400, code="invalid")
    assert "10000" in error["fields"]["max_weight_grams"][0]
    assert "M" in error["fields"]["max_size_class"][0]
    assert not Trip.objects.exists()


def test_list_shows_only_my_trips(courier_client, courier):
    # given
    mine = [make_trip(courier=courier), make_trip(courier=courier)]
    make_trip(courier=CourierFactory())

    # when
    body = courier_client.get(TRIPS).json()

    # then
    assert body["count"] == 2
    assert {t["id"] for t in body["results"]} == {t.pk for t in mine}


def test_list_filters_by_status(courier_client, courier):
    # given
    planned = make_trip(courier=courier)
    started = trip_start(trip=make_trip(courier=courier), actor=courier)

    # when
    active = courier_client.get(TRIPS, {"status": "active"}).json()
    still_planned = courier_client.get(TRIPS, {"status": "planned"}).json()

    # then
    assert [t["id"] for t in active["results"]] == [started.pk]
    assert [t["id"] for t in still_planned["results"]] == [planned.pk]


def test_another_couriers_trip_is_404(courier_client):
    # given
    theirs = make_trip(courier=CourierFactory())
    before = snapshot(theirs)

    # when
    seen = courier_client.get(detail(theirs))
    started = courier_client.post(detail(theirs, "start"))
    cancelled = courier_client.post(detail(theirs, "cancel"))
    events = courier_client.get(detail(theirs, "events"))

    # then
    for response in (seen, started, cancelled, events):
        assert_error(response, 404, code="not_found")
    assert snapshot(theirs) == before


def test_start_then_complete(courier_client, courier):
    # given
    trip = make_trip(courier=courier)

    # when
    started = courier_client.post(detail(trip, "start"))

    # then
    assert started.status_code == 200, started.content
    assert started.json()["status"] == "active"
    assert Trip.objects.get(pk=trip.pk).status == TripStatus.ACTIVE

    # when
    completed = courier_client.post(detail(trip, "complete"))

    # then
    assert completed.status_code == 200, completed.content
    assert completed.json()["status"] == "completed"
    events = courier_client.get(detail(trip, "events")).json()
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        ("", "planned"),
        ("planned", "active"),
        ("active", "completed"),
    ]


def test_cancel_a_planned_trip(courier_client, courier):
    # given
    trip = make_trip(courier=courier)

    # when
    response = courier_client.post(detail(trip, "cancel"), {"reason": "Ill"}, format="json")

    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    trip.refresh_from_db()
    assert trip.status == TripStatus.CANCELLED
    assert trip.events.last().note == "Cancelled: Ill"


def test_cancel_a_completed_trip_is_409_and_changes_nothing(courier_client, courier):
    # given
    trip = make_trip(courier=courier)
    trip_start(trip=trip, actor=courier)
    trip_complete(trip=trip, actor=courier)
    before = snapshot(trip)

    # when
    response = courier_client.post(detail(trip, "cancel"))

    # then
    error = assert_error(response, 409, code="transition_not_allowed")
    assert "completed" in error["message"]
    assert snapshot(trip) == before


def test_complete_a_planned_trip_is_409_and_changes_nothing(courier_client, courier):
    # given
    trip = make_trip(courier=courier)
    before = snapshot(trip)

    # when
    response = courier_client.post(detail(trip, "complete"))

    # then
    assert_error(response, 409, code="transition_not_allowed")
    assert snapshot(trip) == before


def test_start_a_cancelled_trip_is_409_and_changes_nothing(courier_client, courier):
    # given
    trip = make_trip(courier=courier)
    trip_cancel(trip=trip, actor=courier)
    before = snapshot(trip)

    # when
    response = courier_client.post(detail(trip, "start"))

    # then
    assert_error(response, 409, code="transition_not_allowed")
    assert snapshot(trip) == before


def test_a_shipper_only_user_is_refused(shipper_client, shipper):
    # given
    someones = make_trip(courier=CourierFactory())
    before = snapshot(someones)

    # when
    listed = shipper_client.get(TRIPS)
    created = shipper_client.post(TRIPS, trip_payload(), format="json")
    cancelled = shipper_client.post(detail(someones, "cancel"))

    # then
    for response in (listed, created, cancelled):
        assert_error(response, 403, code="permission_denied")
    assert Trip.objects.count() == 1
    assert snapshot(someones) == before


def test_a_shipper_who_puts_a_courier_profile_can_post_trips(shipper):
    # given
    client = APIClient()
    client.force_authenticate(shipper)
    client.put("/api/v1/me/courier-profile/", {"vehicle_type": "car"}, format="json")
    shipper.refresh_from_db()

    # when
    response = client.post(TRIPS, trip_payload(max_size_class="L"), format="json")

    # then
    assert response.status_code == 201, response.content
    assert response.json()["vehicle_type"] == "car"
    assert Trip.objects.get().courier == shipper


def test_the_default_order_is_latest_departure_first(courier_client, courier):
    # given
    soon = make_trip(courier=courier)
    later = make_trip(
        courier=courier,
        departure_earliest=timezone.now() + timedelta(days=2),
        departure_latest=timezone.now() + timedelta(days=2, hours=1),
    )

    # when
    results = courier_client.get(TRIPS).json()["results"]

    # then
    assert [t["id"] for t in results] == [later.pk, soon.pk]
    assert [
        t["id"]
        for t in courier_client.get(TRIPS, {"ordering": "departure_earliest"}).json()["results"]
    ] == [soon.pk, later.pk]


def test_the_api_and_the_service_agree_on_the_route(courier_client, courier):
    # given: the same commute, once through the service
    by_service = make_trip(courier=courier)

    # when: and once through the API
    by_api = courier_client.post(TRIPS, trip_payload(), format="json").json()

    # then
    assert by_api["route_length_m"] == by_service.route_length_m
    assert by_api["route"]["coordinates"][1] == list(POTSDAMER_PLATZ)
