"""Offers: who gets them, acceptance rules, expiry of offers and parcels."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from marketplace.accounts.models import CourierProfile, VerificationStatus
from marketplace.core.exceptions import ConflictError, NotAllowedError, NotFoundError
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle.matching import (
    offer_accept,
    offer_decline,
    offers_expire,
    parcels_expire,
)
from marketplace.lifecycle.posting import parcel_update
from marketplace.matching.models import Offer, OfferStatus
from marketplace.matching.services import offers_make_for_parcel, offers_make_for_trip
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip
from tests.factories.matching import line_trip, parcel_near

pytestmark = pytest.mark.django_db


def test_best_couriers_get_offers_up_to_the_configured_number(settings):
    settings.MATCHING_OFFERS_PER_PARCEL = 2
    trips = [line_trip(north_m=n) for n in (600, 100, 300)]
    parcel = parcel_near(pickup=(2_000, 0), dropoff=(8_000, 0))
    offers = offers_make_for_parcel(parcel_id=parcel.pk)
    assert [o.trip_id for o in offers] == [trips[1].pk, trips[2].pk]
    assert [o.rank for o in offers] == [1, 2]
    assert all(o.expires_at > timezone.now() for o in offers)
    # Idempotent: slots are full, nothing more is made.
    assert offers_make_for_parcel(parcel_id=parcel.pk) == []
    assert Offer.objects.count() == 2


def test_one_offer_per_courier_even_with_several_fitting_trips():
    first = line_trip(north_m=100)
    line_trip(courier=first.courier, north_m=50, t0=first.departure_earliest + timedelta(hours=1))
    parcel = parcel_near()
    offers = offers_make_for_parcel(parcel_id=parcel.pk)
    assert len(offers) == 1


def test_new_trip_is_offered_open_parcels_with_free_slots(settings):
    settings.MATCHING_OFFERS_PER_PARCEL = 1
    parcel = parcel_near()
    other = parcel_near(pickup=(3_000, 0), dropoff=(9_000, 0))
    first = line_trip()
    assert {o.parcel_id for o in offers_make_for_trip(trip_id=first.pk)} == {parcel.pk, other.pk}
    second = line_trip()
    assert offers_make_for_trip(trip_id=second.pk) == []  # both parcels' single slot is taken


def test_publishing_and_posting_trigger_matching_after_commit(django_capture_on_commit_callbacks):
    trip = line_trip()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        parcel = parcel_near()
        assert not Offer.objects.exists()  # nothing before the commit
    assert callbacks
    assert Offer.objects.get().parcel == parcel
    with django_capture_on_commit_callbacks(execute=True):
        later = line_trip()
    assert Offer.objects.filter(trip=later).exists()
    assert trip != later


def test_accept_assigns_reserves_and_withdraws_the_rest():
    trips = [line_trip(north_m=n) for n in (100, 200, 300)]
    parcel = parcel_near(weight_grams=2_000)
    offers = offers_make_for_parcel(parcel_id=parcel.pk)
    winner = offers[1]

    delivery = offer_accept(offer_id=winner.pk, courier=winner.courier)

    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.MATCHED
    assert delivery.trip_id == winner.trip_id and delivery.parcel_id == parcel.pk
    assert len(delivery.pickup_code) == 6 and delivery.pickup_code.isdigit()
    assert delivery.co2_saved_grams > 0
    statuses = dict(Offer.objects.values_list("pk", "status"))
    assert statuses == {
        offers[0].pk: OfferStatus.WITHDRAWN,
        winner.pk: OfferStatus.ACCEPTED,
        offers[2].pk: OfferStatus.WITHDRAWN,
    }
    trip = Trip.objects.get(pk=winner.trip_id)
    assert (trip.reserved_parcels, trip.reserved_weight_grams) == (1, 2_000)
    assert trips[0].pk != trip.pk


def test_late_acceptance_gets_a_clear_conflict_and_changes_nothing():
    line_trip(north_m=100)
    line_trip(north_m=200)
    parcel = parcel_near()
    first, second = offers_make_for_parcel(parcel_id=parcel.pk)
    offer_accept(offer_id=first.pk, courier=first.courier)
    with pytest.raises(ConflictError) as excinfo:
        offer_accept(offer_id=second.pk, courier=second.courier)
    assert excinfo.value.code in {"parcel_taken", "offer_closed"}
    assert Delivery.objects.count() == 1
    assert Trip.objects.get(pk=second.trip_id).reserved_parcels == 0


def test_expired_offer_cannot_be_accepted():
    line_trip()
    (offer,) = offers_make_for_parcel(parcel_id=parcel_near().pk)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ConflictError, match="expired"):
        offer_accept(offer_id=offer.pk, courier=offer.courier)
    assert not Delivery.objects.exists()


def test_unverified_courier_cannot_accept_and_others_cannot_touch_my_offer():
    line_trip()
    (offer,) = offers_make_for_parcel(parcel_id=parcel_near().pk)
    other = line_trip().courier
    with pytest.raises(NotFoundError):
        offer_accept(offer_id=offer.pk, courier=other)
    CourierProfile.objects.filter(user=offer.courier).update(
        verification_status=VerificationStatus.SUSPENDED
    )
    offer.courier.refresh_from_db()
    with pytest.raises(NotAllowedError):
        offer_accept(offer_id=offer.pk, courier=offer.courier)
    assert Offer.objects.get(pk=offer.pk).status == OfferStatus.PENDING
    assert not Delivery.objects.exists()


def test_declined_courier_is_not_asked_again_and_the_next_one_is(
    settings, django_capture_on_commit_callbacks
):
    settings.MATCHING_OFFERS_PER_PARCEL = 1
    best = line_trip(north_m=100)
    runner_up = line_trip(north_m=400)
    parcel = parcel_near(pickup=(2_000, 0), dropoff=(8_000, 0))
    (offer,) = offers_make_for_parcel(parcel_id=parcel.pk)
    assert offer.courier == best.courier
    with django_capture_on_commit_callbacks(execute=True):
        offer_decline(offer_id=offer.pk, courier=best.courier)
    pending = Offer.objects.get(parcel=parcel, status=OfferStatus.PENDING)
    assert pending.courier == runner_up.courier
    with pytest.raises(ConflictError):
        offer_decline(offer_id=offer.pk, courier=best.courier)


def test_offers_expire_and_the_parcel_moves_on(settings, django_capture_on_commit_callbacks):
    settings.MATCHING_OFFERS_PER_PARCEL = 1
    best = line_trip(north_m=100)
    runner_up = line_trip(north_m=400)
    parcel = parcel_near(pickup=(2_000, 0), dropoff=(8_000, 0))
    (offer,) = offers_make_for_parcel(parcel_id=parcel.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert offers_expire(now=timezone.now()) == 0
        assert offers_expire(now=offer.expires_at + timedelta(seconds=1)) == 1
    assert Offer.objects.get(pk=offer.pk).status == OfferStatus.EXPIRED
    assert Offer.objects.get(parcel=parcel, status=OfferStatus.PENDING).courier == runner_up.courier
    assert best.courier != runner_up.courier


def test_parcels_without_a_taker_expire_and_the_shipper_is_told(django_capture_on_commit_callbacks):
    line_trip()
    offered = parcel_near()
    offers_make_for_parcel(parcel_id=offered.pk)
    lonely = parcel_near(pickup=(2_000, 5_000), dropoff=(8_000, 5_000))
    later = offered.pickup_window_end + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert parcels_expire(now=later) == 2
    offered.refresh_from_db()
    lonely.refresh_from_db()
    assert offered.status == lonely.status == ParcelStatus.EXPIRED
    assert "1 courier(s) were offered it" in offered.events.last().note
    assert "No courier's trip passed" in lonely.events.last().note
    assert not Offer.objects.filter(status=OfferStatus.PENDING).exists()
    assert len(mail.outbox) == 2
    assert {m.to[0] for m in mail.outbox} == {offered.shipper.email, lonely.shipper.email}
    assert "expired" in mail.outbox[0].subject
    # Running again does nothing more.
    assert parcels_expire(now=later) == 0


def test_editing_an_open_parcel_withdraws_its_offers_and_rematches(
    django_capture_on_commit_callbacks,
):
    line_trip()
    parcel = parcel_near()
    (offer,) = offers_make_for_parcel(parcel_id=parcel.pk)
    with django_capture_on_commit_callbacks(execute=True):
        parcel_update(parcel=parcel, actor=parcel.shipper, weight_grams=2_000)
    offer.refresh_from_db()
    # The same courier still fits: the withdrawn offer is renewed for the changed parcel.
    assert offer.status == OfferStatus.PENDING
    assert Parcel.objects.get(pk=parcel.pk).weight_grams == 2_000


def test_a_retried_accept_by_the_winner_returns_the_same_delivery():
    line_trip()
    (offer,) = offers_make_for_parcel(parcel_id=parcel_near().pk)
    first = offer_accept(offer_id=offer.pk, courier=offer.courier)
    again = offer_accept(offer_id=offer.pk, courier=offer.courier)
    assert again.pk == first.pk
    assert Delivery.objects.count() == 1
    assert Trip.objects.get(pk=offer.trip_id).reserved_parcels == 1
