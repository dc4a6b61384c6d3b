"""On-demand matching: a courier asks which open parcels fit their trip, an admin asks which
trips a parcel fits. Both only read: they never make offers."""

from datetime import datetime

import pytest
from django.contrib.gis.geos import LineString

from marketplace.accounts.models import CourierProfile, VerificationStatus
from marketplace.core.geo import approximate
from marketplace.matching.engine import parcels_for_trip
from tests.api.matching_helpers import (
    PRIVATE_PARCEL_KEYS,
    TRIPS,
    assigned_delivery,
    client_for,
    courier_with_trip,
    snapshot,
    url,
)
from tests.api.payloads import assert_error
from tests.factories.accounts import CourierFactory, ShipperFactory, UserFactory
from tests.factories.geo import (
    ALEXANDERPLATZ,
    CHARLOTTENBURG,
    POTSDAMER_PLATZ,
    offset,
    pt,
)
from tests.factories.parcels import make_parcel
from tests.factories.trips import make_trip

pytestmark = pytest.mark.django_db

ADMIN_PARCELS = "/api/v1/admin/parcels/"


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def commute_shifted(*, north_m: float) -> LineString:
    """The commute moved north by `north_m` metres, vertex by vertex."""
    return LineString(
        [offset(p, north_m=north_m) for p in (ALEXANDERPLATZ, POTSDAMER_PLATZ, CHARLOTTENBURG)],
        srid=4326,
    )


def test_a_courier_sees_the_parcels_along_their_trip_with_fit_estimates():
    # given: an exact fit, a fit 400 m off the route, one far away and one already taken
    courier, trip = courier_with_trip()
    exact_pickup = offset(ALEXANDERPLATZ, east_m=37)
    exact = make_parcel(pickup_point=pt(exact_pickup))
    aside = make_parcel(pickup_point=pt(offset(ALEXANDERPLATZ, north_m=400)))
    make_parcel(
        pickup_point=pt(offset(ALEXANDERPLATZ, north_m=5_000)),
        dropoff_point=pt(offset(CHARLOTTENBURG, north_m=5_000)),
    )
    assigned_delivery()  # matched to another courier's trip: no longer open
    before = snapshot()

    # when
    response = client_for(courier).get(url(TRIPS, trip, "parcels-along"))

    # then: best first (smallest detour), areas only
    assert response.status_code == 200, response.content
    rows = response.json()
    assert [row["parcel"]["id"] for row in rows] == [exact.pk, aside.pk]
    for row in rows:
        assert not PRIVATE_PARCEL_KEYS & set(row["parcel"]), PRIVATE_PARCEL_KEYS & set(row)
        assert row["parcel"]["status"] == "open"
    first = rows[0]
    area = approximate(exact.pickup_point)
    assert first["parcel"]["pickup_area"]["coordinates"] == [area.x, area.y]
    assert first["parcel"]["pickup_area"]["coordinates"] != list(exact_pickup)
    for secret in (exact.pickup_address, exact.dropoff_address, exact.pickup_contact_phone):
        assert secret not in response.content.decode()

    # and the engine's estimates for each fit
    fit = first["fit"]
    assert (fit["trip_id"], fit["parcel_id"], fit["courier_id"]) == (trip.pk, exact.pk, courier.pk)
    assert fit["detour_m"] < 100
    assert 750 <= rows[1]["fit"]["detour_m"] <= 850  # out 400 m and back
    assert fit["pickup_position_m"] < fit["dropoff_position_m"]
    assert abs(fit["dropoff_position_m"] - trip.route_length_m) < 100
    pickup_at, dropoff_at = when(fit["predicted_pickup_at"]), when(fit["predicted_dropoff_at"])
    assert exact.pickup_window_start <= pickup_at <= exact.pickup_window_end
    assert exact.delivery_window_start <= dropoff_at <= exact.delivery_window_end
    assert trip.departure_earliest <= pickup_at < dropoff_at
    engine_fit = parcels_for_trip(trip)[0]
    assert fit["detour_m"] == engine_fit.detour_m
    assert fit["dropoff_position_m"] == engine_fit.dropoff_position_m

    # and asking made no offers
    assert snapshot() == before


def test_an_unverified_courier_sees_no_parcels_along_their_trip():
    # given
    courier, trip = courier_with_trip()
    make_parcel()
    CourierProfile.objects.filter(user=courier).update(
        verification_status=VerificationStatus.PENDING
    )

    # when
    response = client_for(courier).get(url(TRIPS, trip, "parcels-along"))

    # then
    assert response.status_code == 200, response.content
    assert response.json() == []


def test_another_couriers_trip_is_404_and_nothing_changes():
    # given
    _, trip = courier_with_trip()
    intruder = CourierFactory()
    make_parcel()
    before = snapshot()

    # when
    response = client_for(intruder).get(url(TRIPS, trip, "parcels-along"))

    # then
    assert_error(response, 404)
    assert snapshot() == before


def test_a_shipper_only_user_cannot_ask_for_parcels_along_a_trip():
    # given
    _, trip = courier_with_trip()
    parcel = make_parcel()

    # when
    response = client_for(parcel.shipper).get(url(TRIPS, trip, "parcels-along"))

    # then
    assert_error(response, 403, code="permission_denied")


def test_an_admin_sees_the_trips_a_parcel_fits_best_first():
    # given: a trip on the parcel's line, one 300 m beside it, one 5 km away
    admin = UserFactory(is_staff=True, is_shipper=False)
    on_line, on_trip = courier_with_trip()
    beside, beside_trip = courier_with_trip(route=commute_shifted(north_m=300))
    make_trip(route=commute_shifted(north_m=5_000))
    parcel = make_parcel()
    before = snapshot()

    # when
    response = client_for(admin).get(url(ADMIN_PARCELS, parcel, "trips"))

    # then
    assert response.status_code == 200, response.content
    fits = response.json()
    assert [(f["trip_id"], f["courier_id"]) for f in fits] == [
        (on_trip.pk, on_line.pk),
        (beside_trip.pk, beside.pk),
    ]
    assert all(f["parcel_id"] == parcel.pk for f in fits)
    assert fits[0]["detour_m"] < 50
    # at most 300 m from the shifted route at each end (less across its slanted legs)
    aside = fits[1]
    for name in ("pickup_offset_m", "dropoff_offset_m"):
        assert 150 <= aside[name] <= 301, name
    assert aside["detour_m"] == round(2 * (aside["pickup_offset_m"] + aside["dropoff_offset_m"]))
    for fit in fits:
        assert fit["pickup_position_m"] < fit["dropoff_position_m"]
        assert when(fit["predicted_pickup_at"]) < when(fit["predicted_dropoff_at"])
    assert snapshot() == before


@pytest.mark.parametrize("who", ["shipper", "courier"])
def test_a_non_staff_user_cannot_ask_which_trips_a_parcel_fits(who):
    # given
    courier, _ = courier_with_trip()
    shipper = ShipperFactory()
    parcel = make_parcel(shipper=shipper)
    before = snapshot()

    # when
    response = client_for(shipper if who == "shipper" else courier).get(
        url(ADMIN_PARCELS, parcel, "trips")
    )

    # then
    assert_error(response, 403, code="permission_denied")
    assert snapshot() == before


def test_an_admin_asking_about_an_unknown_parcel_gets_404():
    # given
    admin = UserFactory(is_staff=True)

    # when
    response = client_for(admin).get(url(ADMIN_PARCELS, 987_654, "trips"))

    # then
    assert_error(response, 404)
