"""The escrow end to end: pay, deliver, release, onboard, transfer — through localstripe and
signed webhooks, with the ledger balanced at every step."""

import pytest

from marketplace.lifecycle import delivering
from marketplace.lifecycle.paying import payment_start
from marketplace.parcels.models import ParcelStatus
from marketplace.payments import ledger
from marketplace.payments.models import (
    ConnectedAccount,
    Payment,
    PaymentStatus,
    Transfer,
    TransferStatus,
    WebhookEvent,
)
from marketplace.payments.payouts import connect_onboarding_link
from tests.factories.matching import assigned, line_trip, parcel_near
from tests.payments.stripe_fakes import event, post_event

pytestmark = pytest.mark.django_db


def test_pay_deliver_release_and_transfer_once_payouts_are_enabled(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    # Given a trip and a parcel that waits for its payment
    trip = line_trip()
    parcel = parcel_near()
    assert parcel.status == ParcelStatus.DRAFT

    # When the shipper pays with Stripe's test card
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(
            parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa"
        )

    # Then the parcel is published and the money is held in escrow
    parcel.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.stripe_charge_id
    assert parcel.status == ParcelStatus.OPEN
    assert ledger.balances(transaction__payment=payment) == {
        "escrow": -payment.amount,
        "stripe_balance": payment.amount,
    }

    # When the courier delivers it
    delivery = assigned(parcel, trip.courier)
    delivering.delivery_confirm_pickup(
        delivery=delivery, actor=trip.courier, code=delivery.pickup_code
    )
    delivering.delivery_start_transit(delivery=delivery, actor=trip.courier)
    with django_capture_on_commit_callbacks(execute=True):
        delivering.delivery_confirm_delivered(
            delivery=delivery, actor=trip.courier, code=delivery.delivery_code
        )

    # Then the fee is earned and the share waits for the courier's Stripe account
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.RELEASED
    transfer = Transfer.objects.get(delivery=delivery)
    assert (transfer.status, transfer.amount) == (TransferStatus.WAITING, payment.courier_share)
    assert ledger.balances(transaction__payment=payment) == {
        "courier_payable": -payment.courier_share,
        "platform_revenue": -payment.platform_fee,
        "stripe_balance": payment.amount,
    }

    # When the courier onboards and Stripe reports payouts enabled (Connect webhook)
    url = connect_onboarding_link(courier=trip.courier)
    assert url.startswith("https://connect.stripe.com/")
    account = ConnectedAccount.objects.get(courier=trip.courier)
    data = stripe_connect.enable_payouts(account.stripe_account_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(
            client, event("account.updated", data, account=account.stripe_account_id), connect=True
        )
    assert response.status_code == 200

    # Then the share is transferred once, tagged with the delivery
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PAID
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert sent["amount"] == payment.courier_share
    assert sent["source_transaction"] == payment.stripe_charge_id
    assert sent["transfer_group"] == f"delivery-{delivery.pk}"
    assert ledger.balances(transaction__payment=payment) == {
        "platform_revenue": -payment.platform_fee,
        "stripe_balance": payment.platform_fee,
    }
    assert ledger.total() == 0
    assert WebhookEvent.objects.get().processed_at is not None
    assert Payment.objects.count() == 1
