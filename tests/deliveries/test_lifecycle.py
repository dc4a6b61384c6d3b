"""The delivery lifecycle through its services: every step, every refusal, codes, cancellations."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace.accounts.models import CourierProfile
from marketplace.core.exceptions import (
    ApplicationError,
    ConflictError,
    NotAllowedError,
    TooManyAttemptsError,
)
from marketplace.core.state_machine import TransitionNotAllowed
from marketplace.deliveries import services as delivery_services
from marketplace.deliveries.models import DELIVERY_TRANSITIONS, Delivery, DeliveryStatus
from marketplace.deliveries.selectors import trip_stops
from marketplace.lifecycle import cancelling, delivering
from marketplace.lifecycle.cancelling import parcel_cancel, trip_cancel
from marketplace.lifecycle.delivering import trip_complete, trip_start
from marketplace.matching.models import Offer, OfferStatus
from marketplace.parcels.models import ParcelStatus
from marketplace.trips.models import Trip, TripStatus
from tests.factories.matching import assigned, line_trip, parcel_near

pytestmark = pytest.mark.django_db
D = DeliveryStatus


@pytest.fixture
def trip():
    return line_trip()


@pytest.fixture
def delivery(trip):
    return assigned(parcel_near(weight_grams=2_000), trip.courier)


def _png() -> SimpleUploadedFile:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buf, "PNG")
    return SimpleUploadedFile("proof.png", buf.getvalue(), content_type="image/png")


def _statuses(delivery):
    delivery.refresh_from_db()
    delivery.parcel.refresh_from_db()
    return delivery.status, delivery.parcel.status


def test_happy_path_moves_parcel_and_delivery_together(delivery, trip):
    courier = trip.courier
    delivering.delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    assert _statuses(delivery) == (D.PICKED_UP, ParcelStatus.PICKED_UP)
    delivering.delivery_start_transit(delivery=delivery, actor=courier)
    assert _statuses(delivery) == (D.IN_TRANSIT, ParcelStatus.IN_TRANSIT)
    delivering.delivery_confirm_delivered(
        delivery=delivery,
        actor=courier,
        code=delivery.delivery_code,
        photo=_png(),
        signature=_png(),
    )
    assert _statuses(delivery) == (D.DELIVERED, ParcelStatus.DELIVERED)
    assert delivery.proof_photo.name.startswith("proofs/")
    assert delivery.signature_image.name.startswith("signatures/")
    assert delivery.picked_up_at <= delivery.delivered_at
    trip.refresh_from_db()
    assert (trip.reserved_parcels, trip.reserved_weight_grams) == (0, 0)
    steps = [(e.from_status, e.to_status) for e in delivery.events.all()]
    assert steps == [
        ("", "assigned"),
        ("assigned", "picked_up"),
        ("picked_up", "in_transit"),
        ("in_transit", "delivered"),
    ]


@pytest.mark.parametrize(
    ("current", "target"),
    [(a, b) for a in D.values for b in D.values if b not in DELIVERY_TRANSITIONS[a]],
)
def test_every_refused_delivery_move_changes_nothing(delivery, current, target):
    Delivery.objects.filter(pk=delivery.pk).update(status=current)
    delivery.refresh_from_db()
    events = delivery.events.count()
    with pytest.raises(TransitionNotAllowed):
        delivery_services.delivery_move(delivery, target, actor=None)
    delivery.refresh_from_db()
    assert delivery.status == current
    assert delivery.events.count() == events


def test_wrong_pickup_code_is_refused_counted_and_finally_locked(delivery, trip, settings):
    settings.DELIVERY_CODE_MAX_ATTEMPTS = 3
    wrong = "000000" if delivery.pickup_code != "000000" else "111111"
    for left in (2, 1, 0):
        with pytest.raises(ApplicationError) as excinfo:
            delivering.delivery_confirm_pickup(delivery=delivery, actor=trip.courier, code=wrong)
        assert excinfo.value.code == "wrong_code"
        assert excinfo.value.extra == {"attempts_left": left}
    with pytest.raises(TooManyAttemptsError):
        delivering.delivery_confirm_pickup(
            delivery=delivery, actor=trip.courier, code=delivery.pickup_code
        )
    assert _statuses(delivery) == (D.ASSIGNED, ParcelStatus.MATCHED)
    assert delivery.pickup_code_attempts == 3

    delivery = delivery_services.delivery_reissue_code(
        delivery=delivery, actor=delivery.parcel.shipper, kind="pickup"
    )
    assert delivery.pickup_code_attempts == 0
    delivering.delivery_confirm_pickup(
        delivery=delivery, actor=trip.courier, code=delivery.pickup_code
    )
    assert _statuses(delivery)[0] == D.PICKED_UP


def test_only_the_assigned_courier_moves_the_delivery(delivery):
    stranger = line_trip().courier
    for step in (
        lambda: delivering.delivery_confirm_pickup(
            delivery=delivery, actor=stranger, code=delivery.pickup_code
        ),
        lambda: delivering.delivery_start_transit(delivery=delivery, actor=stranger),
        lambda: cancelling.delivery_cancel_by_courier(delivery=delivery, actor=stranger),
        lambda: delivering.delivery_fail(delivery=delivery, actor=stranger, reason="x"),
    ):
        with pytest.raises(NotAllowedError):
            step()
    assert _statuses(delivery) == (D.ASSIGNED, ParcelStatus.MATCHED)
    assert delivery.pickup_code_attempts == 0


def test_failed_attempt_then_reschedule_or_hand_back(
    delivery, trip, django_capture_on_commit_callbacks
):
    courier = trip.courier
    delivering.delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    delivering.delivery_start_transit(delivery=delivery, actor=courier)
    with pytest.raises(ApplicationError):
        delivering.delivery_fail(delivery=delivery, actor=courier, reason="  ")
    delivering.delivery_fail(delivery=delivery, actor=courier, reason="Nobody home")
    assert _statuses(delivery) == (D.FAILED, ParcelStatus.DELIVERY_FAILED)
    assert delivery.failure_reason == "Nobody home" and delivery.failed_attempts == 1
    delivering.delivery_start_transit(delivery=delivery, actor=courier)  # reschedule
    assert _statuses(delivery) == (D.IN_TRANSIT, ParcelStatus.IN_TRANSIT)
    delivering.delivery_fail(delivery=delivery, actor=courier, reason="Still nobody")
    other = line_trip()
    with django_capture_on_commit_callbacks(execute=True):
        delivering.delivery_hand_back(delivery=delivery, actor=courier)
    assert _statuses(delivery) == (D.REASSIGNED, ParcelStatus.OPEN)
    trip.refresh_from_db()
    assert trip.reserved_parcels == 0
    # Back to matching: another courier is offered it, the first one never again.
    assert Offer.objects.filter(
        parcel=delivery.parcel, courier=other.courier, status="pending"
    ).exists()
    assert Offer.objects.get(pk=delivery.offer_id).status == OfferStatus.CANCELLED


def test_courier_cancels_before_pickup(
    delivery, trip, settings, django_capture_on_commit_callbacks
):
    settings.COURIER_CANCEL_PENALTY = 15
    other = line_trip()
    with django_capture_on_commit_callbacks(execute=True):
        cancelling.delivery_cancel_by_courier(
            delivery=delivery, actor=trip.courier, reason="flat tyre"
        )
    assert _statuses(delivery) == (D.CANCELLED, ParcelStatus.OPEN)
    assert delivery.cancelled_by == "courier"
    assert CourierProfile.objects.get(user=trip.courier).reliability_score == 85
    assert Offer.objects.filter(
        parcel=delivery.parcel, courier=other.courier, status="pending"
    ).exists()
    assert not Offer.objects.filter(
        parcel=delivery.parcel, courier=trip.courier, status="pending"
    ).exists()


def test_courier_cannot_cancel_after_pickup(delivery, trip):
    delivering.delivery_confirm_pickup(
        delivery=delivery, actor=trip.courier, code=delivery.pickup_code
    )
    with pytest.raises(ConflictError, match="picked the parcel up"):
        cancelling.delivery_cancel_by_courier(delivery=delivery, actor=trip.courier)
    assert _statuses(delivery) == (D.PICKED_UP, ParcelStatus.PICKED_UP)


@pytest.mark.parametrize(("trip_started", "fee"), [(False, 0), (True, 300)])
def test_shipper_cancels_before_pickup_with_fee_if_courier_is_on_the_way(
    delivery, trip, settings, trip_started, fee
):
    settings.CANCELLATION_FEE = 300
    if trip_started:
        trip_start(trip=trip, actor=trip.courier)
    parcel_cancel(parcel=delivery.parcel, actor=delivery.parcel.shipper, reason="changed my mind")
    assert _statuses(delivery) == (D.CANCELLED, ParcelStatus.CANCELLED)
    assert (delivery.cancelled_by, delivery.cancellation_fee) == ("shipper", fee)
    trip.refresh_from_db()
    assert trip.reserved_parcels == 0


def test_shipper_cannot_cancel_after_pickup(delivery, trip):
    delivering.delivery_confirm_pickup(
        delivery=delivery, actor=trip.courier, code=delivery.pickup_code
    )
    with pytest.raises(ConflictError):
        parcel_cancel(parcel=delivery.parcel, actor=delivery.parcel.shipper)
    assert _statuses(delivery) == (D.PICKED_UP, ParcelStatus.PICKED_UP)


def test_trip_cancel_and_complete_respect_deliveries(delivery, trip):
    with pytest.raises(ConflictError):
        trip_complete(trip=trip, actor=trip.courier)
    delivering.delivery_confirm_pickup(
        delivery=delivery, actor=trip.courier, code=delivery.pickup_code
    )
    with pytest.raises(ConflictError, match="carrying parcels"):
        trip_cancel(trip=trip, actor=trip.courier)
    assert Trip.objects.get(pk=trip.pk).status == TripStatus.PLANNED


def test_trip_cancel_sends_assigned_parcels_back_to_matching(delivery, trip):
    trip_cancel(trip=trip, actor=trip.courier, reason="sick")
    assert _statuses(delivery) == (D.CANCELLED, ParcelStatus.OPEN)
    trip.refresh_from_db()
    assert trip.status == TripStatus.CANCELLED and trip.reserved_parcels == 0
    assert not trip.segments.exists()


def test_stops_are_ordered_along_the_route(trip):
    first = assigned(parcel_near(pickup=(3_000, 100), dropoff=(9_000, 0)), trip.courier)
    second = assigned(parcel_near(pickup=(1_000, 0), dropoff=(5_000, 0)), trip.courier)
    delivering.delivery_confirm_pickup(delivery=second, actor=trip.courier, code=second.pickup_code)
    stops = trip_stops(trip=trip)
    assert [(s.delivery_id, s.kind) for s in stops] == [
        (second.pk, "pickup"),
        (first.pk, "pickup"),
        (second.pk, "dropoff"),
        (first.pk, "dropoff"),
    ]
    assert [s.done for s in stops] == [True, False, False, False]
    assert stops[0].address == "Pickup street 1"


def test_ratings_both_ways_once_after_delivery(delivery, trip):
    shipper, courier = delivery.parcel.shipper, trip.courier
    with pytest.raises(ConflictError, match="once the parcel is delivered"):
        delivery_services.rating_create(delivery=delivery, rater=shipper, stars=5)
    delivering.delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    delivering.delivery_start_transit(delivery=delivery, actor=courier)
    delivering.delivery_confirm_delivered(
        delivery=delivery, actor=courier, code=delivery.delivery_code
    )
    by_shipper = delivery_services.rating_create(
        delivery=delivery, rater=shipper, stars=5, comment="Quick!"
    )
    by_courier = delivery_services.rating_create(delivery=delivery, rater=courier, stars=4)
    assert (by_shipper.ratee, by_courier.ratee) == (courier, shipper)
    with pytest.raises(ConflictError):
        delivery_services.rating_create(delivery=delivery, rater=shipper, stars=1)
    with pytest.raises(NotAllowedError):
        delivery_services.rating_create(delivery=delivery, rater=line_trip().courier, stars=1)
    with pytest.raises(ApplicationError, match="Stars go from 1 to 5"):
        delivery_services.rating_create(delivery=delivery, rater=courier, stars=6)


def test_co2_saved_uses_stated_factors():
    from marketplace.deliveries.co2 import co2_saved_grams

    # 10 km direct: a van would drive 20 km at 250 g/km = 5 000 g; a car's 2 km detour costs 340 g.
    assert co2_saved_grams(direct_distance_m=10_000, detour_m=2_000, vehicle_type="car") == 4_660
    assert co2_saved_grams(direct_distance_m=10_000, detour_m=2_000, vehicle_type="bike") == 5_000


def test_a_code_sent_at_the_wrong_step_costs_no_attempt(delivery, trip):
    with pytest.raises(TransitionNotAllowed):
        delivering.delivery_confirm_delivered(delivery=delivery, actor=trip.courier, code="123456")
    delivery.refresh_from_db()
    assert delivery.delivery_code_attempts == 0
    assert delivery.status == D.ASSIGNED


def test_shipper_no_longer_sees_codes_of_a_finished_delivery(delivery, trip):
    from marketplace.api.deliveries.serializers import ShipperDeliverySerializer

    assert ShipperDeliverySerializer(delivery).data["pickup_code"] == delivery.pickup_code
    cancelling.delivery_cancel_by_courier(delivery=delivery, actor=trip.courier)
    delivery.refresh_from_db()
    data = ShipperDeliverySerializer(delivery).data
    assert data["pickup_code"] is None and data["delivery_code"] is None
