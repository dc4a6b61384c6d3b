"""Returns without payments: the whole loop through the same matching engine, the recipient's
path, the courier's send-back after a failed attempt, and every refusal (which creates nothing)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.core.exceptions import ApplicationError, ConflictError, NotAllowedError
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.lifecycle import delivering, returning
from marketplace.matching.models import Offer
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.returns.models import ParcelReturn, ReturnStatus
from tests.factories.accounts import ShipperFactory
from tests.factories.matching import assigned, line_trip, parcel_near
from tests.returns.helpers import carry, delivered_parcel, hand_over, westward_trip

pytestmark = pytest.mark.django_db


def test_deliver_return_match_pick_up_deliver_back_and_the_original_is_returned():
    original, _ = delivered_parcel()
    trip_back = westward_trip()

    parcel_return = returning.return_request(
        parcel=original, actor=original.shipper, reason_code="damaged", reason="Box crushed"
    )

    reverse = parcel_return.reverse
    original.refresh_from_db()
    assert parcel_return.status == ReturnStatus.APPROVED
    assert original.status == ParcelStatus.RETURNING
    assert reverse.is_return and reverse.status == ParcelStatus.OPEN
    assert reverse.shipper == original.shipper
    assert (reverse.pickup_point.coords, reverse.dropoff_point.coords) == (
        original.dropoff_point.coords,
        original.pickup_point.coords,
    )
    assert reverse.pickup_contact_name == original.dropoff_contact_name
    assert original.returns.get() == parcel_return
    assert reverse.return_for == parcel_return
    # priced by the same quote as a parcel going that way
    assert reverse.price_total == reverse.platform_fee + reverse.courier_share > 0

    # the same engine offers it to the courier going the other way; the offer says "return"
    delivery = assigned(reverse, trip_back.courier)
    assert Offer.objects.get(pk=delivery.offer_id).parcel.is_return
    hand_over(delivery, trip_back.courier)

    original.refresh_from_db()
    parcel_return.refresh_from_db()
    assert original.status == ParcelStatus.RETURNED
    assert parcel_return.status == ReturnStatus.COMPLETED and parcel_return.completed_at
    assert list(parcel_return.events.values_list("to_status", flat=True)) == [
        "requested",
        "approved",
        "completed",
    ]
    assert original.events.last().to_status == ParcelStatus.RETURNED


def test_the_eastward_trip_that_delivered_it_is_not_offered_the_way_back():
    original, _ = delivered_parcel()
    parcel_return = returning.return_request(
        parcel=original, actor=original.shipper, reason_code="not_wanted"
    )
    assert not Offer.objects.filter(parcel=parcel_return.reverse).exists()
    westward = westward_trip()
    from marketplace.matching.services import offers_make_for_parcel

    offers = offers_make_for_parcel(parcel_id=parcel_return.reverse_id)
    assert [o.courier_id for o in offers] == [westward.courier_id]


def test_a_shipper_may_send_it_to_a_return_address_and_pick_windows():
    original, _ = delivered_parcel()
    start = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    parcel_return = returning.return_request(
        parcel=original,
        actor=original.shipper,
        reason_code="wrong_item",
        dropoff_address="Returns desk, Hall 3",
        pickup_window_start=start,
        pickup_window_end=start + timedelta(hours=4),
        delivery_window_end=start + timedelta(hours=8),
    )
    reverse = parcel_return.reverse
    assert reverse.dropoff_address == "Returns desk, Hall 3"
    assert reverse.pickup_window_start == start
    assert reverse.delivery_window_start == start


def _counts() -> tuple[int, int]:
    return Parcel.objects.count(), ParcelReturn.objects.count()


def test_a_parcel_not_delivered_is_refused_and_nothing_is_created():
    parcel = parcel_near()
    before = _counts()
    with pytest.raises(ConflictError) as error:
        returning.return_request(parcel=parcel, actor=parcel.shipper, reason_code="damaged")
    assert error.value.code == "not_delivered"
    assert _counts() == before


def test_a_return_outside_the_window_is_refused_and_nothing_is_created(settings):
    settings.RETURN_WINDOW_DAYS = 14
    original, delivery = delivered_parcel()
    Delivery.objects.filter(pk=delivery.pk).update(
        delivered_at=timezone.now() - timedelta(days=14, minutes=1)
    )
    before = _counts()
    with pytest.raises(ConflictError) as error:
        returning.return_request(parcel=original, actor=original.shipper, reason_code="damaged")
    assert error.value.code == "return_window_closed"
    assert "14 days" in str(error.value)
    assert _counts() == before
    original.refresh_from_db()
    assert original.status == ParcelStatus.DELIVERED


def test_a_second_return_of_the_same_parcel_is_refused_and_nothing_is_created():
    original, _ = delivered_parcel()
    returning.return_request(parcel=original, actor=original.shipper, reason_code="damaged")
    before = _counts()
    with pytest.raises(ConflictError) as error:
        returning.return_request(parcel=original, actor=original.shipper, reason_code="damaged")
    assert error.value.code in ("return_exists", "not_delivered")
    with pytest.raises(ConflictError):
        returning.return_request_by_recipient(parcel=original, reason_code="damaged")
    assert _counts() == before


def test_a_return_cannot_itself_be_returned():
    original, _ = delivered_parcel()
    reverse = returning.return_request(
        parcel=original, actor=original.shipper, reason_code="damaged"
    ).reverse
    trip_back = westward_trip()
    hand_over(assigned(reverse, trip_back.courier), trip_back.courier)
    reverse.refresh_from_db()
    assert reverse.status == ParcelStatus.DELIVERED
    before = _counts()
    with pytest.raises(ConflictError) as error:
        returning.return_request(parcel=reverse, actor=reverse.shipper, reason_code="damaged")
    assert error.value.code == "not_returnable"
    assert _counts() == before


def test_someone_else_cannot_return_my_parcel_and_bad_reasons_are_named():
    original, _ = delivered_parcel()
    before = _counts()
    with pytest.raises(NotAllowedError):
        returning.return_request(parcel=original, actor=ShipperFactory(), reason_code="damaged")
    with pytest.raises(ApplicationError) as error:
        returning.return_request(parcel=original, actor=original.shipper, reason_code="bored")
    assert "reason_code" in error.value.fields
    with pytest.raises(ApplicationError) as error:
        returning.return_request(parcel=original, actor=original.shipper, reason_code="other")
    assert "reason" in error.value.fields
    assert _counts() == before


def test_the_recipient_asks_and_the_shipper_approves():
    original, _ = delivered_parcel()
    parcel_return = returning.return_request_by_recipient(
        parcel=original, reason_code="wrong_item", reason="Ordered blue, got red"
    )
    original.refresh_from_db()
    assert parcel_return.status == ReturnStatus.REQUESTED
    assert parcel_return.requested_by == "recipient" and parcel_return.requester is None
    assert parcel_return.reverse.status == ParcelStatus.DRAFT  # not offered before approval
    assert original.status == ParcelStatus.DELIVERED
    assert original.shipper.notifications.filter(kind="return_requested").exists()

    with pytest.raises(NotAllowedError):
        returning.return_approve(parcel_return=parcel_return, actor=ShipperFactory())
    returning.return_approve(parcel_return=parcel_return, actor=original.shipper)

    parcel_return.refresh_from_db()
    original.refresh_from_db()
    assert parcel_return.status == ReturnStatus.APPROVED
    assert parcel_return.decided_by == original.shipper
    assert original.status == ParcelStatus.RETURNING
    assert Parcel.objects.get(pk=parcel_return.reverse_id).status == ParcelStatus.OPEN


def test_the_shipper_refuses_with_a_reason_and_the_way_back_is_cancelled():
    original, _ = delivered_parcel()
    parcel_return = returning.return_request_by_recipient(parcel=original, reason_code="not_wanted")
    with pytest.raises(ApplicationError):
        returning.return_refuse(parcel_return=parcel_return, actor=original.shipper, reason=" ")

    returning.return_refuse(
        parcel_return=parcel_return, actor=original.shipper, reason="Final sale item"
    )

    parcel_return.refresh_from_db()
    original.refresh_from_db()
    assert parcel_return.status == ReturnStatus.REFUSED
    assert parcel_return.refusal_reason == "Final sale item"
    assert parcel_return.reverse.status == ParcelStatus.CANCELLED
    assert original.status == ParcelStatus.DELIVERED
    # refused: it may be asked again within the window
    again = returning.return_request_by_recipient(parcel=original, reason_code="damaged")
    assert again.status == ReturnStatus.REQUESTED


def test_cancelling_the_way_back_puts_the_original_back_to_delivered():
    from marketplace.lifecycle.cancelling import parcel_cancel

    original, _ = delivered_parcel()
    parcel_return = returning.return_request(
        parcel=original, actor=original.shipper, reason_code="damaged"
    )
    parcel_cancel(parcel=parcel_return.reverse, actor=original.shipper, reason="Kept it")

    parcel_return.refresh_from_db()
    original.refresh_from_db()
    assert parcel_return.status == ReturnStatus.CANCELLED
    assert original.status == ParcelStatus.DELIVERED


def test_the_courier_sends_a_failed_delivery_back_and_it_comes_home():
    trip = line_trip()
    original = parcel_near()
    delivery = assigned(original, trip.courier)
    carry(delivery, trip.courier)
    delivering.delivery_fail(delivery=delivery, actor=trip.courier, reason="Nobody home")
    trip_back = westward_trip()

    with pytest.raises(NotAllowedError):
        returning.return_send_back(delivery=delivery, actor=trip_back.courier, reason="x")
    parcel_return = returning.return_send_back(
        delivery=delivery, actor=trip.courier, reason="Nobody home twice"
    )

    original.refresh_from_db()
    delivery.refresh_from_db()
    reverse = parcel_return.reverse
    assert parcel_return.requested_by == "courier"
    assert parcel_return.status == ReturnStatus.APPROVED
    assert delivery.status == DeliveryStatus.RETURNED
    assert original.status == ParcelStatus.RETURNING
    # the courier who tried hands it over at the drop-off
    assert reverse.pickup_contact_name in (trip.courier.get_full_name(), trip.courier.email)
    trip.refresh_from_db()
    assert trip.reserved_parcels == 0

    hand_over(assigned(reverse, trip_back.courier), trip_back.courier)
    original.refresh_from_db()
    assert original.status == ParcelStatus.RETURNED


def test_only_a_failed_delivery_can_be_sent_back():
    trip = line_trip()
    original = parcel_near()
    delivery = assigned(original, trip.courier)
    carry(delivery, trip.courier)
    before = _counts()
    with pytest.raises(ConflictError) as error:
        returning.return_send_back(delivery=delivery, actor=trip.courier, reason="Too far")
    assert error.value.code == "not_failed"
    assert _counts() == before


def test_a_failed_way_back_is_not_sent_back_again():
    original, _ = delivered_parcel()
    reverse = returning.return_request(
        parcel=original, actor=original.shipper, reason_code="damaged"
    ).reverse
    trip_back = westward_trip()
    delivery = assigned(reverse, trip_back.courier)
    carry(delivery, trip_back.courier)
    delivering.delivery_fail(delivery=delivery, actor=trip_back.courier, reason="Closed")
    before = _counts()
    with pytest.raises(ConflictError) as error:
        returning.return_send_back(delivery=delivery, actor=trip_back.courier, reason="Closed")
    assert error.value.code == "not_returnable"
    assert _counts() == before
