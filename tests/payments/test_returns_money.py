"""Returns with the escrow on: the way back is paid into escrow like any parcel (or funded by the
platform), and what the returns policy refunds of the original order goes through the ledger."""

import pytest

from marketplace.lifecycle import delivering, returning
from marketplace.lifecycle.paying import payment_start
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments import ledger
from marketplace.payments.models import Payment, PaymentStatus, Transfer
from tests.factories.accounts import UserFactory
from tests.payments.helpers import (
    assign,
    balances,
    carry,
    charge_refunded,
    deliver,
    delivered_payment,
    onboard,
    trip_and_parcel,
)
from tests.returns.helpers import westward_trip

pytestmark = pytest.mark.django_db


def _whole_ledger() -> dict[str, int]:
    return ledger.balances()


def test_the_shipper_pays_the_way_back_and_the_ledger_balances(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    payments_on.RETURN_REFUND_ORIGINAL = "platform_fee"
    _, original, payment, _ = delivered_payment(capture)
    assert payment.status == PaymentStatus.RELEASED

    with capture(execute=True):
        parcel_return = returning.return_request(
            parcel=original, actor=original.shipper, reason_code="damaged"
        )
    reverse = Parcel.objects.get(pk=parcel_return.reverse_id)
    assert reverse.status == ParcelStatus.DRAFT  # waits for its payment, like any parcel
    assert original.shipper.notifications.filter(kind="return_payment_needed").exists()

    with capture(execute=True):
        back_payment = payment_start(
            parcel=reverse, shipper=reverse.shipper, payment_method="pm_card_visa"
        )
    reverse.refresh_from_db()
    assert back_payment.status == PaymentStatus.SUCCEEDED
    assert back_payment.amount == reverse.price_total
    assert reverse.status == ParcelStatus.OPEN

    trip_back = westward_trip()
    deliver(capture, assign(reverse, trip_back), trip_back.courier)

    original.refresh_from_db()
    payment.refresh_from_db()
    back_payment.refresh_from_db()
    assert original.status == ParcelStatus.RETURNED
    assert back_payment.status == PaymentStatus.RELEASED
    # policy "platform_fee": the original's fee came back to the shipper, out of revenue
    assert payment.amount_refunded == payment.platform_fee
    assert charge_refunded(payment) == payment.platform_fee
    assert balances(payment) == {
        "courier_payable": -payment.courier_share,
        "stripe_balance": payment.amount - payment.platform_fee,
    }
    assert balances(back_payment) == {
        "courier_payable": -back_payment.courier_share,
        "platform_revenue": -back_payment.platform_fee,
        "stripe_balance": back_payment.amount,
    }
    assert sum(_whole_ledger().values()) == 0

    # the refund task replayed changes nothing
    from marketplace.payments.refunds import escrow_refund_returned

    escrow_refund_returned(parcel_id=original.pk)
    payment.refresh_from_db()
    assert payment.amount_refunded == payment.platform_fee
    assert charge_refunded(payment) == payment.platform_fee


def test_with_policy_none_the_original_is_not_refunded(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    payments_on.RETURN_REFUND_ORIGINAL = "none"
    payments_on.RETURN_FEE_PAYER = "platform"
    _, original, payment, _ = delivered_payment(capture)
    with capture(execute=True):
        parcel_return = returning.return_request(
            parcel=original, actor=original.shipper, reason_code="not_wanted"
        )
    trip_back = westward_trip()
    deliver(capture, assign(parcel_return.reverse, trip_back), trip_back.courier)
    payment.refresh_from_db()
    assert payment.amount_refunded == 0 and charge_refunded(payment) == 0


def test_the_platform_funds_the_way_back_and_pays_the_courier_from_its_balance(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    payments_on.RETURN_FEE_PAYER = "platform"
    _, original, _, _ = delivered_payment(capture)
    revenue_before = _whole_ledger().get("platform_revenue", 0)

    with capture(execute=True):
        parcel_return = returning.return_request(
            parcel=original, actor=original.shipper, reason_code="damaged"
        )
    reverse = Parcel.objects.get(pk=parcel_return.reverse_id)
    funded = Payment.objects.get(parcel=reverse)
    assert parcel_return.paid_by == "platform"
    assert reverse.status == ParcelStatus.OPEN  # no card asked
    assert funded.funded_by_platform and funded.status == PaymentStatus.SUCCEEDED
    assert (funded.amount, funded.platform_fee) == (reverse.courier_share, 0)
    assert balances(funded) == {"platform_revenue": funded.amount, "escrow": -funded.amount}

    trip_back = westward_trip()
    deliver(capture, assign(reverse, trip_back), trip_back.courier)
    onboard(capture, stripe_connect, trip_back.courier)

    transfer = Transfer.objects.get(payment=funded)
    assert transfer.stripe_transfer_id
    sent = stripe_connect.transfers[transfer.stripe_transfer_id]
    assert sent["amount"] == reverse.courier_share and not sent["source_transaction"]
    assert balances(funded) == {
        "platform_revenue": funded.amount,
        "stripe_balance": -funded.amount,
    }
    assert _whole_ledger()["platform_revenue"] == revenue_before + funded.amount
    assert sum(_whole_ledger().values()) == 0


def test_a_cancelled_platform_funded_return_gives_the_money_back_to_the_platform(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    payments_on.RETURN_FEE_PAYER = "platform"
    _, original, _, _ = delivered_payment(capture)
    with capture(execute=True):
        parcel_return = returning.return_request(
            parcel=original, actor=original.shipper, reason_code="damaged"
        )
    from marketplace.lifecycle.cancelling import parcel_cancel

    with capture(execute=True):
        parcel_cancel(parcel=parcel_return.reverse, actor=original.shipper, reason="Kept it")
    funded = Payment.objects.get(parcel=parcel_return.reverse)
    assert funded.status == PaymentStatus.REFUNDED
    assert balances(funded) == {}
    original.refresh_from_db()
    assert original.status == ParcelStatus.DELIVERED


def test_a_failed_delivery_sent_back_is_refunded_in_full_when_it_is_home(
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
    reverse = Parcel.objects.get(pk=parcel_return.reverse_id)
    with capture(execute=True):
        payment_start(parcel=reverse, shipper=reverse.shipper, payment_method="pm_card_visa")
    trip_back = westward_trip()
    deliver(capture, assign(reverse, trip_back), trip_back.courier)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert charge_refunded(payment) == payment.amount
    assert balances(payment) == {}  # held, then refunded: nothing left anywhere
    assert not Transfer.objects.filter(payment=payment).exists()
    assert sum(_whole_ledger().values()) == 0


def test_the_admin_refund_action_refunds_once(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    admin_user = UserFactory(is_staff=True)
    _, original, payment, _ = delivered_payment(capture)
    with capture(execute=True):
        parcel_return = returning.return_request(
            parcel=original, actor=original.shipper, reason_code="damaged"
        )
    for _ in range(2):
        with capture(execute=True):
            returning.return_refund_original(parcel_return=parcel_return, actor=admin_user)
    payment.refresh_from_db()
    assert payment.amount_refunded == payment.platform_fee
    assert payment.refunds.count() == 1
    assert charge_refunded(payment) == payment.platform_fee
