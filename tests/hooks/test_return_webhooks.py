"""`return.*` webhooks: a merchant hears of every step of a return of its parcel, on the
original parcel's sequence, and a shipper's own (non-merchant) parcel emits nothing."""

import pytest

from marketplace.hooks.models import WebhookEvent
from marketplace.lifecycle import returning
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.merchants import services as merchants
from tests.factories.matching import assigned
from tests.factories.merchants import merchant_with_key
from tests.returns.helpers import delivered_parcel, hand_over, westward_trip

pytestmark = pytest.mark.django_db


def return_events(parcel):
    return list(
        WebhookEvent.objects.filter(parcel=parcel, type__startswith="return.")
        .order_by("sequence")
        .values_list("type", "payload__data__return__status", "payload__data__return__requested_by")
    )


def merchant_parcel():
    merchant, _ = merchant_with_key()
    owner = merchants.merchant_owner_user(merchant)
    return delivered_parcel(shipper=owner, merchant=merchant)[0]


def test_a_recipient_s_return_refused_then_approved_and_carried_back():
    # given
    original = merchant_parcel()
    trip_back = westward_trip()

    # when: asked, refused, asked again, approved, carried back
    first = returning.return_request_by_recipient(parcel=original, reason_code="not_wanted")
    returning.return_refuse(parcel_return=first, actor=original.shipper, reason="Final sale")
    second = returning.return_request_by_recipient(parcel=original, reason_code="damaged")
    returning.return_approve(parcel_return=second, actor=original.shipper)
    second.refresh_from_db()
    hand_over(assigned(second.reverse, trip_back.courier), trip_back.courier)

    # then
    assert return_events(original) == [
        ("return.requested", "requested", "recipient"),
        ("return.refused", "refused", "recipient"),
        ("return.requested", "requested", "recipient"),
        ("return.approved", "approved", "recipient"),
        ("return.completed", "completed", "recipient"),
    ]
    completed = WebhookEvent.objects.get(parcel=original, type="return.completed")
    assert completed.payload["data"]["return"] == {
        "id": second.pk,
        "status": "completed",
        "requested_by": "recipient",
        "reason_code": "damaged",
        "reverse_parcel_id": second.reverse_id,
    }
    # the reverse parcel's own events do not go out under the original's merchant
    assert not WebhookEvent.objects.filter(parcel=second.reverse, type__startswith="return.")
    sequences = list(
        WebhookEvent.objects.filter(parcel=original)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, len(sequences) + 1))


def test_a_return_called_off_by_cancelling_the_way_back():
    # given: the shipper sends it back (requested and approved at once)
    original = merchant_parcel()
    parcel_return = returning.return_request(
        parcel=original, actor=original.shipper, reason_code="damaged"
    )

    # when
    parcel_cancel(parcel=parcel_return.reverse, actor=original.shipper)

    # then
    assert [event[0] for event in return_events(original)] == [
        "return.requested",
        "return.approved",
        "return.cancelled",
    ]


def test_a_parcel_without_a_merchant_emits_no_return_event():
    # given
    original, _ = delivered_parcel()

    # when
    returning.return_request(parcel=original, actor=original.shipper, reason_code="damaged")

    # then
    assert not WebhookEvent.objects.exists()
