"""Races against the real database, in real threads."""

import pytest

from marketplace.core.exceptions import ConflictError
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle.matching import offer_accept
from marketplace.matching.models import Offer, OfferStatus
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip
from tests.concurrency import race
from tests.factories.matching import line_trip, parcel_near

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_couriers_accept_at_once_exactly_one_wins(settings):
    settings.MATCHING_OFFERS_PER_PARCEL = 20
    trips = [line_trip(north_m=10 * i) for i in range(20)]
    parcel = parcel_near(weight_grams=3_000)
    # Committed for real here, so publishing already ran the matching task (eager Celery).
    offers_make_for_parcel(parcel_id=parcel.pk)
    offers = list(Offer.objects.filter(parcel=parcel, status=OfferStatus.PENDING))
    assert len(offers) == 20

    results, errors = race(
        [lambda o=o: offer_accept(offer_id=o.pk, courier=o.courier) for o in offers]
    )

    assert len(results) == 1, errors
    assert len(errors) == 19
    assert all(isinstance(e, ConflictError) for e in errors), errors
    assert {e.code for e in errors} <= {"parcel_taken", "offer_closed"}
    winner = results[0]
    assert Parcel.objects.get(pk=parcel.pk).status == ParcelStatus.MATCHED
    assert Delivery.objects.count() == 1
    assert Offer.objects.filter(status=OfferStatus.ACCEPTED).get().pk == winner.offer_id
    assert Offer.objects.filter(status=OfferStatus.WITHDRAWN).count() == 19
    reserved = dict(Trip.objects.values_list("pk", "reserved_parcels"))
    assert reserved == {t.pk: (1 if t.pk == winner.trip_id else 0) for t in trips}
    assert Trip.objects.get(pk=winner.trip_id).reserved_weight_grams == 3_000


def test_last_seat_on_a_trip_goes_to_one_parcel_only():
    trip = line_trip(max_parcels=1)
    parcels = [parcel_near(weight_grams=1_000) for _ in range(4)]
    offers = list(Offer.objects.filter(parcel__in=parcels, status=OfferStatus.PENDING))
    assert len(offers) == 4
    assert {o.trip_id for o in offers} == {trip.pk}

    results, errors = race(
        [lambda o=o: offer_accept(offer_id=o.pk, courier=o.courier) for o in offers]
    )

    assert len(results) == 1
    assert len(errors) == 3
    assert all(isinstance(e, ConflictError) and e.code == "no_capacity" for e in errors), errors
    trip.refresh_from_db()
    assert (trip.reserved_parcels, trip.reserved_weight_grams) == (1, 1_000)
    assert Parcel.objects.filter(status=ParcelStatus.MATCHED).count() == 1
    assert Parcel.objects.filter(status=ParcelStatus.OPEN).count() == 3
