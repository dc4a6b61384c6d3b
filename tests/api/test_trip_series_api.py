"""Recurring commutes through the API: posted once, occurrences made days ahead in the courier's
zone and matched; each skipped or edited on its own; stopped; bad input refused, nothing stored."""

from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.lifecycle.commuting import trip_series_materialize, trip_series_materialize_all
from marketplace.matching.models import Offer
from marketplace.trips import recurrence
from marketplace.trips.models import Trip, TripSeries, TripStatus
from marketplace.trips.services import trip_series_occurrence_fields
from tests.api.payloads import assert_error, commute_coordinates
from tests.factories.accounts import CourierFactory
from tests.factories.parcels import make_parcel

pytestmark = pytest.mark.django_db

SERIES = "/api/v1/trip-series/"
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR"]


def series_payload(**overrides):
    body = {
        "route": {"type": "LineString", "coordinates": commute_coordinates()},
        "days": WEEKDAYS,
        "time_zone": "Europe/Berlin",
        "starts_on": timezone.now().astimezone(BERLIN).date().isoformat(),
        "departure_time": "08:00",
        "departure_flex_minutes": 30,
        "arrival_minutes": 120,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def expected_dates(now, days=WEEKDAYS, horizon=7):
    """The weekdays from today (Berlin) to the horizon whose departure window is still open."""
    today = now.astimezone(BERLIN).date()
    found = []
    for n in range(horizon + 1):
        day = today + timedelta(days=n)
        latest = recurrence.local_moment(day, time(8, 30), BERLIN)
        if recurrence.WEEKDAYS[day.weekday()] in days and latest >= now:
            found.append(day)
    return found


def post_series(client, **overrides) -> dict:
    response = client.post(SERIES, series_payload(**overrides), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_weekday_commute_is_made_a_week_ahead_at_local_time(courier_client, settings):
    settings.RECURRING_TRIPS_HORIZON_DAYS = 7
    body = post_series(courier_client)
    series = TripSeries.objects.get(pk=body["id"])
    assert body["rrule"] == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    trips = list(series.occurrences.order_by("departure_earliest"))
    assert [t.occurrence_date for t in trips] == expected_dates(timezone.now())
    for trip in trips:
        local = trip.departure_earliest.astimezone(BERLIN)
        assert (local.date(), local.time()) == (trip.occurrence_date, time(8, 0))
        assert trip.departure_latest - trip.departure_earliest == timedelta(minutes=30)
        assert trip.arrival_latest - trip.departure_earliest == timedelta(minutes=120)
        assert trip.status == TripStatus.PLANNED and trip.courier_id == series.courier_id
    assert body["upcoming"] == [t.pk for t in trips]
    listed = courier_client.get("/api/v1/trips/", {"series": series.pk}).json()["results"]
    assert {t["id"] for t in listed} == {t.pk for t in trips}
    assert all(t["series"] == series.pk for t in listed)


def test_materialising_again_makes_nothing_twice_and_the_horizon_rolls(courier_client):
    series = TripSeries.objects.get(
        pk=post_series(courier_client, days=["MO", "TU", "WE", "TH", "FR", "SA", "SU"])["id"]
    )
    first = series.occurrences.count()
    assert trip_series_materialize(series_id=series.pk) == []
    assert trip_series_materialize_all() == 0
    assert series.occurrences.count() == first
    later = timezone.now() + timedelta(days=3)
    made = trip_series_materialize(series_id=series.pk, now=later)
    assert len(made) == 3
    assert series.occurrences.count() == first + 3
    assert series.occurrences.values("occurrence_date").distinct().count() == first + 3


def test_a_skipped_date_stays_skipped(courier_client):
    series_id = post_series(courier_client, days=["MO", "TU", "WE", "TH", "FR", "SA", "SU"])["id"]
    trip = Trip.objects.filter(series_id=series_id).order_by("departure_earliest").last()
    response = courier_client.post(f"/api/v1/trips/{trip.pk}/cancel/", {"reason": "holiday"})
    assert response.status_code == 200, response.content
    trip_series_materialize(series_id=series_id)
    same_day = Trip.objects.filter(series_id=series_id, occurrence_date=trip.occurrence_date)
    assert list(same_day.values_list("status", flat=True)) == [TripStatus.CANCELLED]


def test_an_occurrence_is_edited_alone(courier_client):
    series_id = post_series(courier_client, days=["MO", "TU", "WE", "TH", "FR", "SA", "SU"])["id"]
    first, second = Trip.objects.filter(series_id=series_id).order_by("departure_earliest")[1:3]
    later = first.departure_earliest + timedelta(hours=1)
    response = courier_client.patch(
        f"/api/v1/trips/{first.pk}/",
        {
            "departure_earliest": later.isoformat(),
            "departure_latest": (later + timedelta(minutes=15)).isoformat(),
            "arrival_latest": (later + timedelta(hours=2)).isoformat(),
            "max_parcels": 1,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    first.refresh_from_db()
    second_before = second.departure_earliest
    second.refresh_from_db()
    assert first.departure_earliest == later and first.max_parcels == 1 and first.is_edited
    assert response.json()["is_edited"] is True
    assert second.departure_earliest == second_before and not second.is_edited
    assert first.events.last().note.startswith("Edited:")


def test_edit_refusals_change_nothing(courier_client):
    series_id = post_series(courier_client)["id"]
    trip = Trip.objects.filter(series_id=series_id).first()
    before = Trip.objects.filter(pk=trip.pk).values().get()
    cases = [
        ({"route_length_m": 5}, 400, "invalid"),
        ({}, 400, "invalid"),
        ({"max_parcels": 99}, 400, "invalid"),
        (
            {"departure_latest": (trip.departure_earliest - timedelta(hours=1)).isoformat()},
            400,
            "invalid",
        ),
        ({"max_size_class": "XL"}, 400, "invalid"),
    ]
    for payload, status, code in cases:
        response = courier_client.patch(f"/api/v1/trips/{trip.pk}/", payload, format="json")
        assert_error(response, status, code=code)
    other = APIClient()
    other.force_authenticate(CourierFactory())
    assert_error(other.patch(f"/api/v1/trips/{trip.pk}/", {"max_parcels": 1}, format="json"), 404)
    assert Trip.objects.filter(pk=trip.pk).values().get() == before


def test_times_cannot_move_under_accepted_parcels(courier_client):
    series_id = post_series(courier_client)["id"]
    trip = Trip.objects.filter(series_id=series_id).first()
    Trip.objects.filter(pk=trip.pk).update(reserved_parcels=1, reserved_weight_grams=1000)
    later = (trip.departure_earliest + timedelta(hours=1)).isoformat()
    response = courier_client.patch(
        f"/api/v1/trips/{trip.pk}/", {"departure_earliest": later}, format="json"
    )
    assert_error(response, 409, code="trip_has_parcels")
    response = courier_client.patch(
        f"/api/v1/trips/{trip.pk}/", {"max_weight_grams": 500}, format="json"
    )
    assert_error(response, 400, code="invalid")


def test_an_occurrence_is_matched_like_any_trip(courier_client, django_capture_on_commit_callbacks):
    tomorrow = timezone.now().astimezone(BERLIN).date() + timedelta(days=1)
    departure = recurrence.local_moment(tomorrow, time(8, 0), BERLIN)
    parcel = make_parcel(
        pickup_window_start=departure - timedelta(hours=1),
        pickup_window_end=departure + timedelta(hours=2),
        delivery_window_start=departure,
        delivery_window_end=departure + timedelta(hours=5),
    )
    with django_capture_on_commit_callbacks(execute=True):
        series_id = post_series(courier_client, days=None, rrule="FREQ=DAILY")["id"]
    occurrence = Trip.objects.get(series_id=series_id, occurrence_date=tomorrow)
    assert Offer.objects.filter(parcel=parcel, trip=occurrence).exists()


def test_stopping_a_series_cancels_its_free_occurrences(courier_client):
    series_id = post_series(courier_client, days=None, rrule="FREQ=DAILY")["id"]
    carrying = Trip.objects.filter(series_id=series_id).order_by("departure_earliest").last()
    Trip.objects.filter(pk=carrying.pk).update(reserved_parcels=1, reserved_weight_grams=1000)
    response = courier_client.post(f"{SERIES}{series_id}/stop/")
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False
    statuses = dict(Trip.objects.filter(series_id=series_id).values_list("pk", "status"))
    assert statuses.pop(carrying.pk) == TripStatus.PLANNED
    assert set(statuses.values()) == {TripStatus.CANCELLED}
    assert (
        trip_series_materialize(series_id=series_id, now=timezone.now() + timedelta(days=5)) == []
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"days": None, "rrule": "FREQ=HOURLY"}, "rrule"),
        ({"days": None, "rrule": "FREQ=WEEKLY;BYDAY=ZZ"}, "rrule"),
        ({"rrule": "FREQ=DAILY"}, "rrule"),  # both rrule and days
        ({"days": None}, "rrule"),  # neither
        ({"days": ["XX"]}, "days"),
        ({"until": "2020-01-01"}, "until"),
        ({"starts_on": (date.today() + timedelta(days=400)).isoformat()}, "starts_on"),
        ({"departure_time": "25:00"}, "departure_time"),
        ({"arrival_minutes": 10}, "arrival_minutes"),
        ({"max_size_class": "XL"}, "max_size_class"),
        ({"route": None, "origin": None}, "route"),
        ({"days": None, "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule"),
    ],
)
def test_bad_series_are_refused_and_nothing_is_stored(courier_client, overrides, field):
    response = courier_client.post(SERIES, series_payload(**overrides), format="json")
    error = assert_error(response, 400)
    assert field in error["fields"], error
    assert not TripSeries.objects.exists() and not Trip.objects.exists()


def test_only_couriers_and_only_their_own(courier_client, shipper_client, api_client):
    series_id = post_series(courier_client)["id"]
    assert_error(shipper_client.post(SERIES, series_payload(), format="json"), 403)
    assert_error(api_client.get(SERIES), 401)
    other = APIClient()
    other.force_authenticate(CourierFactory())
    assert other.get(SERIES).json()["results"] == []
    assert_error(other.get(f"{SERIES}{series_id}/"), 404)
    assert_error(other.post(f"{SERIES}{series_id}/stop/"), 404)
    assert TripSeries.objects.get(pk=series_id).is_active
    assert courier_client.get(f"{SERIES}{series_id}/occurrences/").json()["count"] >= 1


def test_an_occurrence_keeps_local_time_across_a_dst_change():
    series = TripSeries(
        courier=CourierFactory(),
        rrule="FREQ=DAILY",
        time_zone="Europe/Berlin",
        starts_on=date(2027, 3, 20),
        departure_time=time(8, 0),
        departure_flex_minutes=30,
        arrival_minutes=90,
        route_source="geojson",
        max_size_class="M",
        max_weight_grams=1000,
        corridor_m=500,
    )
    before = trip_series_occurrence_fields(series, date(2027, 3, 27))
    after = trip_series_occurrence_fields(series, date(2027, 3, 29))
    assert before["departure_earliest"].hour == 7 and after["departure_earliest"].hour == 6
    assert after["arrival_latest"] - after["departure_earliest"] == timedelta(minutes=90)
