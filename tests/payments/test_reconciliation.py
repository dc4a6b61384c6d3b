"""Reconciliation: the ledger agrees with Stripe after every flow, and a refund or reversal made
behind Waypost's back shows up until its webhook is processed."""

import pytest
import requests
from django.conf import settings

from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.delivering import trip_start
from marketplace.lifecycle.paying import payment_start
from marketplace.payments import gateway, ledger
from marketplace.payments.models import (
    PaymentStatus,
    ReconciliationRun,
    Refund,
    Transfer,
)
from marketplace.payments.reconciliation import reconcile
from marketplace.payments.refunds import escrow_refund_after_release
from marketplace.payments.tasks import reconcile_ledger
from marketplace.payments.tips import tip_start
from tests.factories.matching import parcel_near
from tests.payments.helpers import (
    DECLINED_CARD,
    assign,
    charge_refunded,
    dashboard_refund,
    delivered_payment,
    onboard,
    paid_parcel,
    trip_and_parcel,
)
from tests.payments.stripe_fakes import event, post_event

pytestmark = pytest.mark.django_db
P = PaymentStatus


def _every_flow(capture, connect):
    """One payment in each end state the flows reach."""
    trip, _parcel, released, delivery = delivered_payment(capture)
    with capture(execute=True):
        tip_start(
            delivery=delivery, shipper=released.shipper, amount=120, payment_method="pm_card_visa"
        )
    onboard(capture, connect, trip.courier)

    _trip2, _p2, reversed_, _d2 = delivered_payment(capture)
    escrow_refund_after_release(payment_id=reversed_.pk, reason="support")

    cancelled, refunded = paid_parcel(capture)
    with capture(execute=True):
        parcel_cancel(parcel=cancelled, actor=cancelled.shipper)

    trip3, parcel3, partial = trip_and_parcel(capture)
    assign(parcel3, trip3)
    trip_start(trip=trip3, actor=trip3.courier)
    with capture(execute=True):
        parcel_cancel(parcel=parcel3, actor=parcel3.shipper)

    _held_parcel, held = paid_parcel(capture)
    paid_parcel(capture, card=DECLINED_CARD)  # failed: not checked
    unpaid = parcel_near()
    payment_start(parcel=unpaid, shipper=unpaid.shipper)  # waiting for the card: not checked
    return {
        "released": released,
        "reversed": reversed_,
        "refunded": refunded,
        "partial": partial,
        "held": held,
    }


def test_no_difference_after_every_flow(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    payments = _every_flow(django_capture_on_commit_callbacks, stripe_connect)
    for name, status in [
        ("released", P.RELEASED),
        ("reversed", P.REVERSED),
        ("refunded", P.REFUNDED),
        ("partial", P.PARTIALLY_REFUNDED),
        ("held", P.SUCCEEDED),
    ]:
        payments[name].refresh_from_db()
        assert payments[name].status == status, name

    run = reconcile()

    assert run.differences == []
    assert run.payments_checked == 5
    assert ledger.total() == 0
    assert reconcile_ledger() == 0
    assert ReconciliationRun.objects.count() == 2


def test_a_refund_made_behind_our_back_is_found_then_recorded_by_its_webhook(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    # Given a held payment
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    assert reconcile().differences == []

    # When someone refunds part of it in Stripe's dashboard
    dashboard_refund(payment, 200)

    # Then reconciliation sees Stripe's net differ from the ledger's
    (difference,) = reconcile().differences
    assert difference == {
        "payment": payment.pk,
        "what": "charge net",
        "stripe": payment.amount - 200,
        "ledger": payment.amount,
    }

    # When Stripe's charge.refunded arrives
    charge = gateway.charge_retrieve(payment.stripe_charge_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event("charge.refunded", charge)).status_code == 200

    # Then the refund is recorded and the books agree again
    refund = Refund.objects.get(payment=payment)
    assert (refund.amount, refund.reason) == (200, "Refunded at Stripe")
    payment.refresh_from_db()
    assert payment.amount_refunded == 200 and payment.status == P.SUCCEEDED
    assert reconcile().differences == []

    # And a full refund behind our back ends the payment as refunded
    dashboard_refund(payment, payment.amount - 200)
    charge = gateway.charge_retrieve(payment.stripe_charge_id)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event("charge.refunded", charge))
    payment.refresh_from_db()
    assert payment.status == P.REFUNDED and payment.amount_refunded == payment.amount
    assert Refund.objects.filter(payment=payment).count() == 2
    assert reconcile().differences == []
    assert ledger.balances(transaction__payment=payment) == {}


def test_our_own_refunds_are_not_recorded_twice_by_the_webhook(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)
    charge = gateway.charge_retrieve(payment.stripe_charge_id)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event("charge.refunded", charge))

    payment.refresh_from_db()
    assert Refund.objects.filter(payment=payment).count() == 1
    assert payment.amount_refunded == payment.amount == charge_refunded(payment)
    assert reconcile().differences == []


def test_a_reversal_made_behind_our_back_is_found(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    trip, _parcel, payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)
    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)
    transfer = Transfer.objects.get(payment=payment)

    requests.post(
        f"{settings.STRIPE_API_BASE}/v1/transfers/{transfer.stripe_transfer_id}/reversals",
        data={"amount": 100},
        auth=(settings.STRIPE_SECRET_KEY, ""),
        timeout=10,
    ).raise_for_status()

    (difference,) = reconcile().differences
    assert difference == {
        "transfer": transfer.pk,
        "what": "transfer net",
        "stripe": transfer.amount - 100,
        "ledger": transfer.amount,
    }
