"""The sweep of lost money tasks (marketplace.payments.sweeps), against localstripe.

Each test leaves the release or refund that a step queues on commit unrun (the step is called
outside `capture(execute=True)`), as a worker killed mid-task would, then runs the periodic
sweep as beat would: the money moves once, and a second sweep queues nothing.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.lifecycle import delivering, returning
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.paying import payment_start
from marketplace.lifecycle.tasks import sweep_lost_tasks
from marketplace.parcels.models import Parcel
from marketplace.payments.models import Payment, PaymentStatus, Transfer
from marketplace.payments.sweeps import money_sweep
from tests.factories.matching import parcel_near
from tests.payments.helpers import (
    assign,
    balances,
    carry,
    charge_refunded,
    deliver,
    delivered_payment,
    intent_status,
    paid_parcel,
    trip_and_parcel,
)
from tests.returns.helpers import westward_trip

pytestmark = pytest.mark.django_db
P = PaymentStatus


@pytest.fixture(autouse=True)
def _no_grace(settings):
    settings.TASK_SWEEP_GRACE_SECONDS = 0


def sweep(capture):
    with capture(execute=True):
        return money_sweep(now=timezone.now() + timedelta(seconds=1))


def home_again_with_its_tasks_lost(capture, parcel_return):
    """The way back paid, carried and delivered; what its delivery queues on commit (the
    original's refund, the way back's release) is lost. Returns the reverse parcel."""
    reverse = Parcel.objects.get(pk=parcel_return.reverse_id)
    with capture(execute=True):
        payment_start(parcel=reverse, shipper=reverse.shipper, payment_method="pm_card_visa")
    trip_back = westward_trip()
    back = assign(reverse, trip_back)
    carry(back, trip_back.courier)
    delivering.delivery_confirm_delivered(
        delivery=back, actor=trip_back.courier, code=back.delivery_code
    )
    return reverse


def test_a_lost_release_is_swept_and_pays_once(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    trip, _parcel, payment = trip_and_parcel(capture)
    delivery = assign(_parcel, trip)
    carry(delivery, trip.courier)
    delivering.delivery_confirm_delivered(
        delivery=delivery, actor=trip.courier, code=delivery.delivery_code
    )  # release_delivery is lost
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED

    found = sweep(capture)

    assert found.releases == [delivery.pk]
    payment.refresh_from_db()
    assert payment.status == P.RELEASED
    assert Transfer.objects.filter(payment=payment).count() == 1
    assert sweep(capture).releases == []
    assert Transfer.objects.filter(payment=payment).count() == 1


def test_a_disputed_payment_is_not_released_by_the_sweep(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    trip, parcel, payment = trip_and_parcel(capture)
    delivery = assign(parcel, trip)
    carry(delivery, trip.courier)
    delivering.delivery_confirm_delivered(
        delivery=delivery, actor=trip.courier, code=delivery.delivery_code
    )
    Payment.objects.filter(pk=payment.pk).update(status=P.DISPUTED)  # frozen: an admin decides

    assert sweep(capture).releases == []


def test_a_lost_cancellation_refund_is_swept_and_refunds_once(
    payments_on, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    parcel, payment = paid_parcel(capture)
    parcel_cancel(parcel=parcel, actor=parcel.shipper)  # refund_cancelled_parcel is lost
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED

    found = sweep(capture)

    assert found.cancel_refunds == [parcel.pk]
    payment.refresh_from_db()
    assert payment.status == P.REFUNDED
    assert charge_refunded(payment) == payment.amount
    assert balances(payment) == {}
    assert sweep(capture).cancel_refunds == []
    assert charge_refunded(payment) == payment.amount


def test_an_open_intent_of_a_cancelled_parcel_is_cancelled_by_the_sweep(
    payments_on, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    parcel = parcel_near()
    payment = payment_start(parcel=parcel, shipper=parcel.shipper)  # the browser never paid
    parcel_cancel(parcel=parcel, actor=parcel.shipper)

    assert sweep(capture).cancel_refunds == [parcel.pk]

    payment.refresh_from_db()
    assert payment.status == P.CANCELED
    assert intent_status(payment) == "canceled"
    assert sweep(capture).cancel_refunds == []


def test_a_lost_refund_of_a_failed_delivery_sent_back_is_swept(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    trip, original, payment = trip_and_parcel(capture)
    delivery = assign(original, trip)
    carry(delivery, trip.courier)
    delivering.delivery_fail(delivery=delivery, actor=trip.courier, reason="Nobody home")
    with capture(execute=True):
        parcel_return = returning.return_send_back(
            delivery=delivery, actor=trip.courier, reason="Nobody home"
        )
    reverse = home_again_with_its_tasks_lost(capture, parcel_return)
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED

    with capture(execute=True):
        queued = sweep_lost_tasks.apply().get()

    assert queued["return_refunds"] == 1 and queued["releases"] == 1
    payment.refresh_from_db()
    assert payment.status == P.REFUNDED
    assert charge_refunded(payment) == payment.amount
    assert Payment.objects.get(parcel=reverse).status == P.RELEASED
    again = sweep(capture)
    assert (again.return_refunds, again.releases) == ([], [])


def test_what_changed_within_the_grace_is_left_to_its_task(
    settings, payments_on, django_capture_on_commit_callbacks
):
    settings.TASK_SWEEP_GRACE_SECONDS = 120
    capture = django_capture_on_commit_callbacks
    parcel, _payment = paid_parcel(capture)
    parcel_cancel(parcel=parcel, actor=parcel.shipper)  # its refund task may still be queued

    with capture(execute=True):
        assert money_sweep().cancel_refunds == []
    with capture(execute=True):
        later = money_sweep(now=timezone.now() + timedelta(seconds=121))
    assert later.cancel_refunds == [parcel.pk]


def test_a_delivered_parcel_paid_and_released_normally_is_never_swept(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    trip, parcel, _payment = trip_and_parcel(capture)
    deliver(capture, assign(parcel, trip), trip.courier)

    found = sweep(capture)

    assert (found.releases, found.cancel_refunds, found.return_refunds) == ([], [], [])


def test_a_lost_fee_refund_of_a_delivered_parcel_sent_back_is_swept(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    payments_on.RETURN_REFUND_ORIGINAL = "platform_fee"
    _, original, payment, _ = delivered_payment(capture)
    with capture(execute=True):
        parcel_return = returning.return_request(
            parcel=original, actor=original.shipper, reason_code="damaged"
        )
    home_again_with_its_tasks_lost(capture, parcel_return)
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (P.RELEASED, 0)

    found = sweep(capture)

    assert found.return_refunds == [original.pk]
    payment.refresh_from_db()
    assert payment.amount_refunded == payment.platform_fee
    assert charge_refunded(payment) == payment.platform_fee
    assert sweep(capture).return_refunds == []
    # with policy "none" a returned parcel's fee is never the sweep's business
    payments_on.RETURN_REFUND_ORIGINAL = "none"
    assert sweep(capture).return_refunds == []
