"""Batch assignment through the real engine and database: the whole picture beats first come,
a trip takes a bundle whose stops interleave within its room at every point, declines feed the
next batch, and bundle acceptance is all or nothing and race-safe."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.core.exceptions import ConflictError
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle.assigning import batch_assign, bundle_accept
from marketplace.lifecycle.matching import offer_accept
from marketplace.lifecycle.tasks import assign_batch
from marketplace.matching.models import Offer, OfferBundle, OfferStatus
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip
from tests.concurrency import race
from tests.factories.matching import line_trip, parcel_near

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(settings):
    settings.MATCHING_POLICY = "batch"
    return settings


def offers_by_parcel() -> dict[int, int]:
    pending = Offer.objects.filter(status=OfferStatus.PENDING)
    return dict(pending.values_list("parcel_id", "trip_id"))


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_under_the_batch_policy_parcels_wait_for_the_batch(batch):
    trip = line_trip()
    parcel = parcel_near()
    assert not Offer.objects.exists()  # opening and posting made no offer
    report = batch_assign()
    assert offers_by_parcel() == {parcel.pk: trip.pk}
    assert (report.parcels, report.trips, report.assigned, report.offers) == (1, 1, 1, 1)
    assert report.method == "milp" and report.optimal
    assert batch_assign().offers == 0  # it has a pending offer now: not placed again


def test_the_periodic_task_does_nothing_under_greedy(settings):
    settings.MATCHING_POLICY = "greedy"
    line_trip()
    parcel_near()
    before = Offer.objects.count()
    assert assign_batch() == 0
    assert Offer.objects.count() == before


def test_the_whole_picture_serves_more_than_first_come(batch):
    # Both parcels fit the long trip; only `near` fits the short one. First come (cheapest
    # detour first) would seat `near` on the long trip and leave `far` unserved.
    long_trip = line_trip(max_parcels=1)
    short_trip = line_trip(north_m=300, max_parcels=1)
    Trip.objects.filter(pk=short_trip.pk).update(route_length_m=short_trip.route_length_m)
    near = parcel_near(pickup=(1_000, 0), dropoff=(9_000, 0))  # on both routes' corridors
    far = parcel_near(pickup=(1_500, -700), dropoff=(9_500, -700))  # only the long one's
    report = batch_assign()
    assert offers_by_parcel() == {near.pk: short_trip.pk, far.pk: long_trip.pk}
    assert report.assigned == 2


def test_a_bundle_interleaves_along_the_route_within_one_seat(batch):
    trip = line_trip(max_parcels=1, max_weight_grams=3_000)
    first = parcel_near(pickup=(500, 100), dropoff=(4_000, 100), weight_grams=2_500)
    second = parcel_near(pickup=(5_000, -100), dropoff=(9_500, -100), weight_grams=2_500)
    both = parcel_near(pickup=(3_000, 0), dropoff=(6_000, 0), weight_grams=500)  # overlaps both
    report = batch_assign()
    # One seat: `first` and `second` never ride together; `both` would block the two of them.
    assert offers_by_parcel() == {first.pk: trip.pk, second.pk: trip.pk}
    assert report.bundles == 1
    bundle = OfferBundle.objects.get()
    body = client_for(trip.courier).get(f"/api/v1/courier/bundles/{bundle.pk}/").json()
    stops = [(s["kind"], s["parcel_id"]) for s in body["stops"]]
    assert stops == [
        ("pickup", first.pk),
        ("dropoff", first.pk),
        ("pickup", second.pk),
        ("dropoff", second.pk),
    ]
    positions = [s["position_m"] for s in body["stops"]]
    assert positions == sorted(positions)

    response = client_for(trip.courier).post(f"/api/v1/courier/bundles/{bundle.pk}/accept/")
    assert response.status_code == 201, response.content
    assert {d["parcel"]["id"] for d in response.json()} == {first.pk, second.pk}
    trip.refresh_from_db()
    # The most on board at once: one parcel, 2.5 kg.
    assert (trip.reserved_parcels, trip.reserved_weight_grams) == (1, 2_500)
    assert Parcel.objects.get(pk=both.pk).status == ParcelStatus.OPEN


def test_accepting_a_bundle_is_all_or_nothing(batch):
    trip = line_trip(max_parcels=1)
    first = parcel_near(pickup=(500, 100), dropoff=(4_000, 100))
    second = parcel_near(pickup=(5_000, -100), dropoff=(9_500, -100))
    batch_assign()
    bundle = OfferBundle.objects.get()
    Offer.objects.filter(parcel=second).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(trip.courier).post(f"/api/v1/courier/bundles/{bundle.pk}/accept/")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "offer_expired"
    assert response.json()["error"]["details"] == {"parcel_id": second.pk}
    assert not Delivery.objects.exists()
    assert Parcel.objects.get(pk=first.pk).status == ParcelStatus.OPEN
    assert Offer.objects.get(parcel=first).status == OfferStatus.PENDING
    # ... while its offers can still be taken one by one.
    offer = Offer.objects.get(parcel=first)
    response = client_for(trip.courier).post(f"/api/v1/courier/offers/{offer.pk}/accept/")
    assert response.status_code == 201, response.content


def test_a_declined_bundle_feeds_the_next_batch_without_that_courier(batch):
    trip = line_trip(max_parcels=2)
    other = line_trip(north_m=200, max_parcels=2)
    parcels = [parcel_near(pickup=(500 + i, 0), dropoff=(9_000, 0)) for i in range(2)]
    batch_assign()
    bundle = OfferBundle.objects.get()
    chosen = bundle.trip
    response = client_for(chosen.courier).post(f"/api/v1/courier/bundles/{bundle.pk}/decline/")
    assert response.status_code == 200, response.content
    assert set(bundle.offers.values_list("status", flat=True)) == {OfferStatus.DECLINED}
    batch_assign()
    (remaining,) = {other.pk, trip.pk} - {chosen.pk}
    assert offers_by_parcel() == {p.pk: remaining for p in parcels}


def test_a_bundle_is_the_courier_s_own(batch):
    trip = line_trip(max_parcels=1)
    parcel_near(pickup=(500, 100), dropoff=(4_000, 100))
    parcel_near(pickup=(5_000, -100), dropoff=(9_500, -100))
    batch_assign()
    bundle = OfferBundle.objects.get()
    stranger = line_trip(north_m=5_000).courier
    assert client_for(stranger).get(f"/api/v1/courier/bundles/{bundle.pk}/").status_code == 404
    assert (
        client_for(stranger).post(f"/api/v1/courier/bundles/{bundle.pk}/accept/").status_code == 404
    )
    assert client_for(trip.courier).get("/api/v1/courier/bundles/").json()["count"] == 1
    assert not Delivery.objects.exists()


def test_a_closing_pickup_window_wins_the_contested_seat(batch, settings):
    settings.MATCHING_URGENT_MINUTES = 120
    trip = line_trip(max_parcels=1)
    t0 = trip.departure_earliest
    relaxed = parcel_near(
        pickup=(2_000, 0),
        pickup_window_end=t0 + timedelta(hours=5),
        delivery_window_end=t0 + timedelta(hours=8),
    )
    closing = parcel_near(pickup=(2_000, 300))  # a larger detour, but its window closes soon
    Parcel.objects.filter(pk=closing.pk).update(pickup_window_end=t0 + timedelta(minutes=30))
    assert offers_by_parcel() == {}
    batch_assign()
    assert offers_by_parcel() == {closing.pk: trip.pk}
    assert relaxed.pk not in offers_by_parcel()


@pytest.mark.django_db(transaction=True)
def test_a_bundle_and_a_single_accept_race_for_the_same_seat(settings):
    settings.MATCHING_POLICY = "batch"
    trip = line_trip(max_parcels=1)
    first = parcel_near(pickup=(500, 100), dropoff=(4_000, 100))
    parcel_near(pickup=(5_000, -100), dropoff=(9_500, -100))
    batch_assign()
    bundle = OfferBundle.objects.get()
    # Another parcel offered to the same trip, overlapping both (made as greedy would).
    overlap = parcel_near(pickup=(3_000, 0), dropoff=(6_000, 0))
    settings.MATCHING_POLICY = "greedy"
    offers_make_for_parcel(parcel_id=overlap.pk)
    single = Offer.objects.get(parcel=overlap, trip=trip)
    results, errors = race(
        [
            lambda: bundle_accept(bundle_id=bundle.pk, courier=trip.courier),
            lambda: offer_accept(offer_id=single.pk, courier=trip.courier),
        ]
    )
    assert len(results) == 1 and len(errors) == 1, errors
    assert isinstance(errors[0], ConflictError) and errors[0].code == "no_capacity"
    accepted = set(Delivery.objects.values_list("parcel_id", flat=True))
    assert accepted in (
        {first.pk, bundle.offers.exclude(parcel=first).get().parcel_id},
        {overlap.pk},
    )
    trip.refresh_from_db()
    assert trip.reserved_parcels == 1


def test_a_parcel_with_no_trip_rests_until_a_trip_is_posted_it_changes_or_the_recheck(batch):
    lonely = parcel_near()  # no trip yet
    first = batch_assign()
    assert (first.parcels, first.resting, first.fits) == (1, 0, 0)
    again = batch_assign()
    assert (again.parcels, again.resting) == (0, 1)  # nothing changed: not looked up again

    trip = line_trip()  # a trip posted since: every resting parcel is looked at again
    posted = batch_assign()
    assert (posted.parcels, posted.resting, posted.offers) == (1, 0, 1)
    assert offers_by_parcel() == {lonely.pk: trip.pk}


def test_a_resting_parcel_is_looked_at_again_when_it_changes_or_after_the_recheck(batch):
    lonely = parcel_near()
    batch_assign()
    assert batch_assign().resting == 1
    Parcel.objects.filter(pk=lonely.pk).update(updated_at=timezone.now())  # say, edited
    assert batch_assign().parcels == 1
    assert batch_assign().resting == 1
    later = timezone.now() + timedelta(seconds=batch.MATCHING_BATCH_RECHECK_SECONDS + 1)
    report = batch_assign(now=later)
    assert (report.parcels, report.resting) == (1, 0)
