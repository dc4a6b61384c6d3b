"""`payment.*` and `delivery.courier_position` webhooks: a merchant hears of every move of its
parcel's payment (through localstripe), and of its courier's position at most once per
HOOKS_POSITION_SECONDS and only when the courier moved; a shipper's own parcel emits nothing."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from marketplace.hooks import services
from marketplace.hooks.models import WebhookEvent
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.merchants import services as merchants
from marketplace.tracking.publishing import courier_positions_publish
from marketplace.tracking.services import pings_record
from tests.factories.matching import line_trip
from tests.factories.merchants import merchant_with_key
from tests.hooks.receiver import Receiver
from tests.payments.helpers import DECLINED_CARD, assign, deliver, paid_parcel
from tests.tracking.helpers import deliver as hand_over
from tests.tracking.helpers import lonlat, new_delivery, pick_up, ping, start

pytestmark = pytest.mark.django_db


def events(parcel, prefix):
    return list(
        WebhookEvent.objects.filter(parcel=parcel, type__startswith=prefix)
        .order_by("sequence")
        .values_list("type", "payload__data__from_status", "payload__data__payment__status")
    )


def merchant_and_owner():
    merchant, _ = merchant_with_key()
    return merchant, merchants.merchant_owner_user(merchant)


# --- payment.* ------------------------------------------------------------------------------------
def test_a_merchant_parcel_paid_and_delivered_tells_of_payment_and_release(
    payments_on, django_capture_on_commit_callbacks
):
    # given
    merchant, owner = merchant_and_owner()
    trip = line_trip()

    # when: paid by card, then carried and delivered (the money released on commit)
    parcel, payment = paid_parcel(
        django_capture_on_commit_callbacks, shipper=owner, merchant=merchant
    )
    deliver(django_capture_on_commit_callbacks, assign(parcel, trip), trip.courier)

    # then
    assert events(parcel, "payment.") == [
        ("payment.succeeded", "requires_payment", "succeeded"),
        ("payment.released", "succeeded", "released"),
    ]
    succeeded = WebhookEvent.objects.get(parcel=parcel, type="payment.succeeded")
    assert succeeded.payload["data"]["payment"] == {
        "id": payment.pk,
        "status": "succeeded",
        "amount": payment.amount,
        "amount_refunded": 0,
        "currency": payment.currency,
    }
    # on the parcel's one sequence, between its status changes
    sequences = list(
        WebhookEvent.objects.filter(parcel=parcel)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, len(sequences) + 1))


def test_a_paid_merchant_parcel_cancelled_tells_of_the_refund(
    payments_on, django_capture_on_commit_callbacks
):
    # given
    merchant, owner = merchant_and_owner()
    parcel, payment = paid_parcel(
        django_capture_on_commit_callbacks, shipper=owner, merchant=merchant
    )

    # when: cancelled before any courier took it (a full refund, on commit)
    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=owner)

    # then
    assert events(parcel, "payment.") == [
        ("payment.succeeded", "requires_payment", "succeeded"),
        ("payment.refunded", "succeeded", "refunded"),
    ]
    refunded = WebhookEvent.objects.get(parcel=parcel, type="payment.refunded")
    assert refunded.payload["data"]["payment"]["amount_refunded"] == payment.amount


def test_a_declined_card_tells_of_the_failure(payments_on, django_capture_on_commit_callbacks):
    merchant, owner = merchant_and_owner()

    parcel, _ = paid_parcel(
        django_capture_on_commit_callbacks,
        shipper=owner,
        merchant=merchant,
        card=DECLINED_CARD,
    )

    assert events(parcel, "payment.") == [("payment.failed", "requires_payment", "failed")]


def test_a_shipper_s_own_payment_emits_nothing(payments_on, django_capture_on_commit_callbacks):
    parcel, _ = paid_parcel(django_capture_on_commit_callbacks)

    assert not WebhookEvent.objects.filter(parcel=parcel).exists()


# --- delivery.courier_position ----------------------------------------------------------------
def merchant_delivery_on_its_way():
    merchant, owner = merchant_and_owner()
    delivery = start(pick_up(new_delivery(shipper=owner, merchant=merchant)))
    return merchant, delivery


def send(delivery, east_m, at=None):
    pings_record(delivery=delivery, courier=delivery.courier, pings=[ping(east_m, at=at)])


def positions(delivery):
    return list(
        WebhookEvent.objects.filter(parcel=delivery.parcel, type="delivery.courier_position")
        .order_by("sequence")
        .values_list("payload__data__position", flat=True)
    )


def test_positions_go_out_at_most_every_20_s_and_only_when_the_courier_moved():
    # given
    _, delivery = merchant_delivery_on_its_way()
    now = timezone.now()
    every = timedelta(seconds=settings.HOOKS_POSITION_SECONDS)

    # when: a position, then published; a newer one at once; then after the interval
    send(delivery, 3_000, at=now - timedelta(minutes=1))
    first = courier_positions_publish(now=now)
    send(delivery, 3_050)
    too_soon = courier_positions_publish(now=now + every - timedelta(seconds=1))
    later = courier_positions_publish(now=now + every + timedelta(seconds=1))
    unmoved = courier_positions_publish(now=now + 3 * every)

    # then
    assert (first, too_soon, later, unmoved) == (1, 0, 1, 0)
    published = positions(delivery)
    assert [(p["lon"], p["lat"]) for p in published] == [
        (round(lon, 6), round(lat, 6)) for lon, lat in (lonlat(3_000), lonlat(3_050))
    ]
    assert published[0]["accuracy_m"] == 10.0
    assert published[0]["remaining_m"] > published[1]["remaining_m"] > 0
    assert published[1]["eta"] and published[1]["recorded_at"]
    event = WebhookEvent.objects.filter(type="delivery.courier_position").first()
    assert event.payload["data"]["delivery"] == {"id": delivery.pk, "status": "in_transit"}


def test_no_position_before_the_first_ping_after_delivery_or_for_a_shipper_s_own_parcel():
    # given: a merchant delivery without pings yet, and a shipper's own delivery with one
    _, quiet = merchant_delivery_on_its_way()
    own = start(pick_up(new_delivery()))
    send(own, 3_000)
    assert courier_positions_publish() == 0

    # when the merchant's courier moves, then delivers
    send(quiet, 3_000)
    hand_over(quiet)

    # then nothing goes out for a delivery that is over
    assert courier_positions_publish(now=timezone.now() + timedelta(minutes=5)) == 0
    assert positions(quiet) == [] and positions(own) == []


def test_a_position_reaches_the_merchant_signed(django_capture_on_commit_callbacks):
    merchant, delivery = merchant_delivery_on_its_way()
    with Receiver() as receiver:
        endpoint = services.endpoint_create(
            merchant=merchant,
            mode="live",
            url=receiver.url,
            event_types=["delivery.courier_position"],
        )
        receiver.secret = endpoint.secret
        send(delivery, 4_000)

        with django_capture_on_commit_callbacks(execute=True):
            courier_positions_publish()

        assert [body["type"] for body in receiver.received] == ["delivery.courier_position"]
        assert receiver.bad_signatures == 0
        lon, lat = lonlat(4_000)
        position = receiver.received[0]["data"]["position"]
        assert (position["lon"], position["lat"]) == (round(lon, 6), round(lat, 6))


def test_the_publisher_runs_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["publish-courier-positions"]
    assert entry["task"] == "marketplace.tracking.tasks.publish_courier_positions"
    assert entry["schedule"] <= settings.HOOKS_POSITION_SECONDS
